//! A change the server refuses on an existing object ([`Form::Recreate`]): the object is
//! deleted and created again, from the bundle's file on apply and from the backup on
//! rollback.
//!
//! Nothing is written without its dry run. Before asking: a dry-run delete guarded by the
//! live object's uid and resourceVersion, and a dry-run create of the new object under a
//! generated name (the old one still holds the name), which shows what admission makes of it.
//! After the yes: the delete, a wait until the object is gone, the dry run of the very create
//! that follows, and the create. If the create is refused after the delete, the object that
//! was deleted is created again (after its own dry run), so a failure never leaves nothing.

use super::{Answer, Call, DryRun, Http, Target, explain, get_call};
use crate::apply::RunOptions;
use crate::bundle::FIELD_MANAGER;
use crate::remediate::{Remediation, immutable};
use kube::api::{DeleteParams, PostParams, Preconditions, PropagationPolicy};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The delete of `live`, precisely (its uid and resourceVersion), its dependents deleted by
/// the garbage collector afterwards (a Job's pods).
fn delete_call(t: &Target, live: &Value, dry_run: bool) -> Result<Call, String> {
    let meta = |k: &str| {
        live.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let params = DeleteParams {
        dry_run,
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: meta("uid"),
            resource_version: meta("resourceVersion"),
        }),
        ..DeleteParams::default()
    };
    Ok(Call {
        request: t
            .request()
            .delete(&t.name, &params)
            .map_err(|e| e.to_string())?,
        verb: "delete",
        idempotent: true,
    })
}

fn create_call(t: &Target, body: &Value, dry_run: bool) -> Result<Call, String> {
    let params = PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    Ok(Call {
        request: t
            .request()
            .create(
                &params,
                serde_json::to_vec(body).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
        verb: "create",
        idempotent: dry_run,
    })
}

/// The object under a generated name, for a dry-run create while the old one exists.
fn under_generated_name(body: &Value, name: &str) -> Value {
    let mut b = body.clone();
    if let Some(meta) = b.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("name");
        meta.insert("generateName".into(), json!(format!("{name}-")));
    }
    b
}

fn refused(what: &str, a: &Answer, t: &Target, r: &Remediation) -> String {
    format!("{what} refused: {}", explain(a, what, t, r))
}

/// The dry runs before the question: the guarded delete, and the create of `body` under a
/// generated name. The result is the created object with its own name, for the diff.
pub(super) async fn dry_run(
    http: &Http,
    t: &Target,
    r: &Remediation,
    live: &Value,
    body: &Value,
) -> Result<DryRun, String> {
    let deleted = http.send_built(delete_call(t, live, true)).await?;
    if !deleted.ok() {
        return Err(refused("delete (dry run)", &deleted, t, r));
    }
    let created = http
        .send_built(create_call(t, &under_generated_name(body, &t.name), true))
        .await?;
    if !created.ok() {
        return Err(refused("create (dry run)", &created, t, r));
    }
    let mut result = created.body;
    if let Some(meta) = result.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("generateName");
        meta.insert("name".into(), json!(t.name));
    }
    let mut warnings = deleted.warnings;
    warnings.extend(created.warnings);
    Ok(DryRun { result, warnings })
}

/// How long to wait for the deleted object to go: its grace period and half a minute more.
fn patience(live: &Value) -> Duration {
    let grace = live
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(30);
    Duration::from_secs(grace.min(600) + 30)
}

/// Waits until the object is gone (a Pod on a node leaves once its kubelet stopped it).
async fn gone(http: &Http, t: &Target, within: Duration, opts: &RunOptions) -> Result<(), String> {
    let start = Instant::now();
    let step = opts
        .retry_base
        .unwrap_or(Duration::from_millis(250))
        .min(Duration::from_millis(500));
    loop {
        match http.send_built(get_call(t)).await {
            Ok(a) if a.status == 404 => return Ok(()),
            Ok(a) if a.ok() => {}
            Ok(a) => return Err(format!("waiting for the delete: get answered {}", a.status)),
            Err(m) => return Err(format!("waiting for the delete: {m}")),
        }
        if start.elapsed() > within {
            return Err(format!(
                "deleted, but still there after {} s (terminating): create it once it is gone \
                 (`kubectl create -f` the bundle's file)",
                within.as_secs()
            ));
        }
        tokio::time::sleep(step).await;
    }
}

/// Dry run, then create; the answer of the create.
async fn create(http: &Http, t: &Target, r: &Remediation, body: &Value) -> Result<Answer, String> {
    let dry = http.send_built(create_call(t, body, true)).await?;
    if !dry.ok() {
        return Err(refused("create (dry run)", &dry, t, r));
    }
    let made = http.send_built(create_call(t, body, false)).await?;
    if made.ok() {
        Ok(made)
    } else {
        Err(refused("create", &made, t, r))
    }
}

/// The writes: delete `live`, wait, create `body`; when the create fails, `live` is created
/// again. Returns the server's warnings.
pub(super) async fn write(
    http: &Http,
    t: &Target,
    r: &Remediation,
    live: &Value,
    body: &Value,
    opts: &RunOptions,
) -> Result<Vec<String>, String> {
    let deleted = http.send_built(delete_call(t, live, false)).await?;
    if !deleted.ok() {
        return Err(refused("delete", &deleted, t, r));
    }
    gone(http, t, patience(live), opts).await?;
    match create(http, t, r, body).await {
        Ok(made) => {
            let mut w = deleted.warnings;
            w.extend(made.warnings);
            Ok(w)
        }
        Err(why) => {
            let back = immutable::for_recreate(live);
            match create(http, t, r, &back).await {
                Ok(_) => Err(format!(
                    "{why}; the deleted object was created again as it was"
                )),
                Err(again) => Err(format!(
                    "{why}; creating the deleted object again failed too ({again}): its backup \
                     is in the bundle's backup/ folder"
                )),
            }
        }
    }
}
