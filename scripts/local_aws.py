#!/usr/bin/env python3
"""Sets up a local AWS double (moto_server) for trying `promptops deploy` without an AWS account
or Docker: an ECR repository `prompts` that holds an image tagged for this repository's release,
a cluster `prod`, a task definition and a service `prompts` running it.

    pip install 'moto[server]'
    moto_server -H 127.0.0.1 -p 5000 &
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=test \
           AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    python3 scripts/local_aws.py          # PROMPTOPS=path/to/promptops if it is not on PATH

moto records images without storing their layers (ECR's data plane is not part of it), and it
never moves an ECS deployment: `deploy --dry-run` shows the whole plan against it, and `deploy
--no-wait` registers the revision and updates the service; a full deploy waits for a rollout
that moto never finishes, so it times out and rolls back, as it would on a stuck service.
"""
import json
import os
import subprocess
import tempfile

import boto3

ACCOUNT = "123456789012"


def release_id():
    binary = os.environ.get("PROMPTOPS", "promptops")
    with tempfile.TemporaryDirectory() as temp:
        out = subprocess.run([binary, "bundle", "--out", os.path.join(temp, "bundle")],
                             check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main():
    region = os.environ.get("AWS_REGION", "us-east-1")
    release = release_id()
    ecr = boto3.client("ecr", region_name=region)
    ecs = boto3.client("ecs", region_name=region)
    ecr.create_repository(repositoryName="prompts")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + "1" * 64, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + "2" * 64, "size": 2}],
    }
    ecr.put_image(repositoryName="prompts", imageManifest=json.dumps(manifest),
                  imageTag=f"release-{release[:12]}")
    host = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(family="prompts", containerDefinitions=[{
        "name": "app", "image": f"{host}/prompts:old", "memory": 256,
        "environment": [{"name": "PROMPTOPS_RELEASE", "value": "old"}],
        "portMappings": [{"containerPort": 8080}],
    }])
    ecs.create_service(cluster="prod", serviceName="prompts", taskDefinition="prompts:1",
                       desiredCount=1)
    print(f"release {release[:12]}: image {host}/prompts:release-{release[:12]}, "
          "cluster prod, service prompts")
    print(f"try: promptops deploy --cluster prod --service prompts "
          f"--image-repository {host}/prompts --dry-run")


if __name__ == "__main__":
    main()
