//! The key results of a command as GitHub Actions step outputs (`name=value` lines for
//! `$GITHUB_OUTPUT`): scores, passed, promoted version, image digest, deployed revision.

use crate::domain::outcome::{ChangeResult, Outcome};

/// The outputs of an outcome, in a stable order. Names are lowercase with hyphens; a task's
/// score is `score-<task>` (task ids are already such names).
pub fn outputs(outcome: &Outcome) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut push = |name: String, value: String| outputs.push((name, value));
    match outcome {
        Outcome::Eval(eval) => {
            let ran = eval.ran();
            for task in &ran {
                push(
                    format!("score-{}", task.summary.task),
                    format!("{:.4}", task.summary.score),
                );
            }
            push(
                "passed".into(),
                ran.iter().all(|task| task.summary.passed).to_string(),
            );
        }
        Outcome::Promote(promote) => promote_outputs(promote, &mut push),
        Outcome::Promotions(all) => {
            for promote in all {
                promote_outputs(promote, &mut push);
            }
        }
        Outcome::Image(image) => {
            push("image-digest".into(), image.digest.clone());
            push("image-reference".into(), image.reference.clone());
            push("release-id".into(), image.release_id.clone());
        }
        Outcome::Deploy(deploy) => {
            push("deploy-result".into(), deploy.result.as_str().to_owned());
            if let Some(revision) = &deploy.task_definition {
                push("deployed-revision".into(), revision.clone());
            }
            if let Some(release) = &deploy.release_id {
                push("release-id".into(), release.clone());
            }
        }
        Outcome::Bundle(bundle) => push("release-id".into(), bundle.release_id.to_string()),
        Outcome::Pipeline(pipeline) => {
            push(
                "failed-stage".into(),
                pipeline
                    .failed
                    .as_ref()
                    .map_or(String::new(), |(stage, _)| stage.clone()),
            );
        }
        _ => {}
    }
    outputs
}

fn promote_outputs(
    promote: &crate::domain::outcome::PromoteOutcome,
    push: &mut impl FnMut(String, String),
) {
    let promoted = matches!(promote.result, ChangeResult::Applied { .. });
    push(
        format!("promoted-{}", promote.task),
        if promoted {
            promote.to.clone()
        } else {
            String::new()
        },
    );
    if promoted {
        push("promoted-version".into(), promote.to.clone());
    }
}

/// The lines to append to `$GITHUB_OUTPUT` (values are one line each by construction).
pub fn lines(outputs: &[(String, String)]) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for (name, value) in outputs {
        let _ = writeln!(text, "{name}={}", value.replace(['\n', '\r'], " "));
    }
    text
}
