//! Amazon ECR and ECS through the AWS SDK, with the standard credential chain (environment,
//! profile, web identity: GitHub OIDC) and `AWS_ENDPOINT_URL` read by `aws-config`. Every
//! answer is turned into a `domain::deploy` value; every error into one line with the
//! service's own message.

use aws_sdk_ecs::types::{KeyValuePair, TaskDefinition, TaskDefinitionField};

use crate::domain::deploy::{ContainerChange, ContainerView, Deployment, ServiceState};

#[derive(Debug, thiserror::Error)]
#[error("AWS {call}: {message}")]
pub struct AwsError {
    pub call: &'static str,
    pub message: String,
    /// A failure that may pass on its own (a 5xx, throttling, a timeout, a dropped
    /// connection): a wait retries it within its deadline.
    pub transient: bool,
}

impl AwsError {
    /// What to check when a call fails.
    pub fn hint(&self) -> &'static str {
        "check the credentials (AWS_* or the OIDC role), the region, and the cluster, service and repository names"
    }
}

type Result<T> = std::result::Result<T, AwsError>;

fn failed<E: std::error::Error + 'static>(call: &'static str) -> impl FnOnce(E) -> AwsError {
    move |error| AwsError {
        call,
        message: describe(&error),
        transient: false,
    }
}

/// `failed`, knowing which SDK errors may pass on their own.
fn failed_sdk<E>(
    call: &'static str,
) -> impl FnOnce(aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>) -> AwsError
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ecs::error::SdkError;
    move |error| {
        let transient = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(context) => {
                context.raw().status().is_server_error()
                    || matches!(
                        context.err().code(),
                        Some(
                            "ThrottlingException"
                                | "ServerException"
                                | "ServiceUnavailableException"
                        )
                    )
            }
            _ => false,
        };
        AwsError {
            call,
            message: describe(&error),
            transient,
        }
    }
}

/// An SDK error in one line: each cause's own words, without repeats or debug dumps.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    let line = parts.join(": ");
    match line.char_indices().nth(400) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// The ECS and ECR clients of one configuration.
pub struct Aws {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
}

/// A task definition as read, with its tags, kept whole for the next revision.
pub struct CurrentTaskDefinition {
    pub arn: String,
    definition: TaskDefinition,
    tags: Vec<aws_sdk_ecs::types::Tag>,
}

impl CurrentTaskDefinition {
    pub fn containers(&self) -> Vec<ContainerView> {
        self.definition
            .container_definitions()
            .iter()
            .map(|container| ContainerView {
                name: container.name().unwrap_or_default().to_owned(),
                image: container.image().unwrap_or_default().to_owned(),
                environment: container
                    .environment()
                    .iter()
                    .map(|pair| {
                        (
                            pair.name().unwrap_or_default().to_owned(),
                            pair.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn family(&self) -> &str {
        self.definition.family().unwrap_or_default()
    }
}

impl Aws {
    pub async fn connect() -> Aws {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
        }
    }

    /// The digest of `repository:tag` (or the digest itself, checked to exist) in ECR.
    pub async fn image_digest(&self, repository: &str, tag_or_digest: &str) -> Result<String> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder();
        let id = if tag_or_digest.starts_with("sha256:") {
            id.image_digest(tag_or_digest)
        } else {
            id.image_tag(tag_or_digest)
        }
        .build();
        let answer = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await
            .map_err(failed("ecr:DescribeImages"))?;
        answer
            .image_details()
            .first()
            .and_then(|detail| detail.image_digest())
            .map(str::to_owned)
            .ok_or_else(|| AwsError {
                call: "ecr:DescribeImages",
                message: format!("{repository}:{tag_or_digest} has no digest"),
                transient: false,
            })
    }

    /// The service's current task definition and deployments.
    pub async fn service(&self, cluster: &str, service: &str) -> Result<ServiceState> {
        let answer = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            // The callers that wait retry within their own deadline; here one try is one look.
            .customize()
            .config_override(
                aws_sdk_ecs::config::Builder::default()
                    .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(failed_sdk("ecs:DescribeServices"))?;
        let Some(found) = answer.services().first() else {
            let why = answer
                .failures()
                .first()
                .and_then(|failure| failure.reason())
                .unwrap_or("not found");
            return Err(AwsError {
                call: "ecs:DescribeServices",
                message: format!("service {service} in cluster {cluster}: {why}"),
                transient: false,
            });
        };
        Ok(ServiceState {
            task_definition: found.task_definition().unwrap_or_default().to_owned(),
            deployments: found
                .deployments()
                .iter()
                .map(|deployment| Deployment {
                    id: deployment.id().unwrap_or_default().to_owned(),
                    status: deployment.status().unwrap_or_default().to_owned(),
                    task_definition: deployment.task_definition().unwrap_or_default().to_owned(),
                    rollout_state: deployment
                        .rollout_state()
                        .map(|state| state.as_str().to_owned()),
                    rollout_reason: deployment.rollout_state_reason().map(str::to_owned),
                    desired: i64::from(deployment.desired_count()),
                    running: i64::from(deployment.running_count()),
                    failed_tasks: i64::from(deployment.failed_tasks()),
                })
                .collect(),
        })
    }

    pub async fn task_definition(&self, arn: &str) -> Result<CurrentTaskDefinition> {
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(failed("ecs:DescribeTaskDefinition"))?;
        let definition = answer.task_definition().cloned().ok_or_else(|| AwsError {
            call: "ecs:DescribeTaskDefinition",
            message: format!("{arn}: no task definition in the answer"),
            transient: false,
        })?;
        Ok(CurrentTaskDefinition {
            arn: definition.task_definition_arn().unwrap_or(arn).to_owned(),
            tags: answer.tags().to_vec(),
            definition,
        })
    }

    /// Registers the next revision: the current one with `change` applied to one container;
    /// every other field and the tags are kept, the read-only fields are left out.
    pub async fn register(
        &self,
        current: &CurrentTaskDefinition,
        change: &ContainerChange,
    ) -> Result<String> {
        let old = &current.definition;
        let mut containers = old.container_definitions().to_vec();
        let container = &mut containers[change.index];
        container.image = Some(change.new_image.clone());
        container.environment = Some(
            change
                .environment
                .iter()
                .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
                .collect(),
        );
        let answer = self
            .ecs
            .register_task_definition()
            .set_family(old.family.clone())
            .set_task_role_arn(old.task_role_arn.clone())
            .set_execution_role_arn(old.execution_role_arn.clone())
            .set_network_mode(old.network_mode.clone())
            .set_container_definitions(Some(containers))
            .set_volumes(old.volumes.clone())
            .set_placement_constraints(old.placement_constraints.clone())
            .set_requires_compatibilities(old.requires_compatibilities.clone())
            .set_cpu(old.cpu.clone())
            .set_memory(old.memory.clone())
            .set_tags((!current.tags.is_empty()).then(|| current.tags.clone()))
            .set_pid_mode(old.pid_mode.clone())
            .set_ipc_mode(old.ipc_mode.clone())
            .set_proxy_configuration(old.proxy_configuration.clone())
            .set_ephemeral_storage(old.ephemeral_storage.clone())
            .set_runtime_platform(old.runtime_platform.clone())
            .set_enable_fault_injection(old.enable_fault_injection)
            .send()
            .await
            .map_err(failed("ecs:RegisterTaskDefinition"))?;
        answer
            .task_definition()
            .and_then(|definition| definition.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError {
                call: "ecs:RegisterTaskDefinition",
                message: "the answer has no task-definition ARN".into(),
                transient: false,
            })
    }

    pub async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(failed("ecs:UpdateService"))?;
        Ok(())
    }

    pub async fn deregister(&self, task_definition: &str) -> Result<()> {
        self.ecs
            .deregister_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(failed("ecs:DeregisterTaskDefinition"))?;
        Ok(())
    }
}
