//! `kcsr-submit status`: the requests as kubectl get csr shows them, with their bindings.

use serde::Serialize;

use kcsr_core::exit::Exit;
use kcsr_core::terminal::json_safe;

use super::bindings::{binding_line, refresh_bindings};
use super::parallel::{DEFAULT_PARALLEL, par_for_each};
use super::report::{print_problem, print_stdout};
use super::session::Connect;
use super::slot::Slot;
use super::targets::{get_all, slots_for, targets};
use crate::binding::BindingReport;
use crate::duration::human_duration;
use crate::objects::{self, CsrObject};
use crate::ops;
use crate::sanitize::one_line;

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    /// Media file stem.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stem: String,
    /// Object name.
    pub name: String,
    /// Whether the object exists.
    pub found: bool,
    /// creationTimestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// AGE as kubectl prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// signerName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_name: Option<String>,
    /// spec.username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requestor: Option<String>,
    /// spec.expirationSeconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_duration_seconds: Option<i64>,
    /// CONDITION column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Approved/Denied/Failed reasons and messages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
    /// Whether status.certificate is set.
    pub issued: bool,
    /// The request's granted bindings as the cluster holds them (media only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingReport>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `kcsr-submit status`.
pub fn status(args: &[String], json: bool, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let targets = targets(args, None, None)?;
    let session = connect()?;
    let mut slots = slots_for(&targets);
    get_all(&mut slots, &session.client, false);
    par_for_each(&mut slots, DEFAULT_PARALLEL.into(), |slot| {
        if !slot.planned().is_empty() {
            let problem = slot.report.problem.take();
            refresh_bindings(slot, &session.client);
            if problem.is_some() {
                slot.report.problem = problem;
            }
        }
    });
    let now = kcsr_core::time::parse_rfc3339(&ops::now_rfc3339()).unwrap_or(0);
    let rows: Vec<StatusRow> = slots.iter().map(|s| StatusRow::of(s, now)).collect();
    if json {
        print_stdout(&format!(
            "{}\n",
            json_safe(&serde_json::to_string_pretty(&rows)?)
        ))?;
    } else {
        print_stdout(&text(&rows, &slots))?;
    }
    let mut code = Exit::Success;
    for slot in &slots {
        if let Some(p) = &slot.report.problem {
            print_problem(slot, p);
            code = Exit::Failed;
        }
    }
    Ok(code)
}

impl StatusRow {
    /// The row of a slot whose object was read (or not), at `now`.
    fn of(s: &Slot, now: i64) -> Self {
        let obj = s.obj.as_ref();
        Self {
            stem: s.report.stem.clone(),
            name: s.report.name.clone(),
            found: obj.is_some(),
            created_at: obj.and_then(|o| o.meta.creation_timestamp.clone()),
            age: obj
                .and_then(|o| o.meta.creation_timestamp.as_deref())
                .and_then(kcsr_core::time::parse_rfc3339)
                .map(|t| human_duration(now - t)),
            signer_name: obj.and_then(|o| o.spec.signer_name.clone()),
            requestor: obj.map(|o| o.spec.username.clone()),
            requested_duration_seconds: obj.and_then(|o| o.spec.expiration_seconds),
            condition: obj.map(CsrObject::condition_column),
            conditions: obj
                .map(|o| {
                    o.conditions()
                        .iter()
                        .map(|c| serde_json::json!({"type": c.kind, "reason": c.reason, "message": c.message}))
                        .collect()
                })
                .unwrap_or_default(),
            issued: obj.is_some_and(CsrObject::is_issued),
            bindings: s.report.bindings.clone(),
            error: s.report.problem.as_ref().map(|p| p.message.clone()),
        }
    }
}

/// kubectl get csr's table of the objects found, then each request's bindings.
fn text(rows: &[StatusRow], slots: &[Slot]) -> String {
    let mut table = vec![[
        "NAME".to_owned(),
        "AGE".to_owned(),
        "SIGNERNAME".to_owned(),
        "REQUESTOR".to_owned(),
        "REQUESTEDDURATION".to_owned(),
        "CONDITION".to_owned(),
    ]];
    for r in rows.iter().filter(|r| r.found) {
        table.push([
            one_line(&r.name),
            r.age.clone().unwrap_or_else(|| "<unknown>".into()),
            one_line(r.signer_name.as_deref().unwrap_or("<none>")),
            one_line(r.requestor.as_deref().unwrap_or("")),
            r.requested_duration_seconds
                .map_or_else(|| "<none>".to_owned(), human_duration),
            one_line(r.condition.as_deref().unwrap_or("")),
        ]);
    }
    let mut out = if table.len() > 1 {
        render_table(&table)
    } else {
        String::new()
    };
    for (r, s) in rows.iter().zip(slots) {
        let denied = s
            .obj
            .as_ref()
            .is_some_and(|o| matches!(o.state(), objects::State::Denied(..)));
        for b in &r.bindings {
            out.push_str(&binding_line(b, denied));
        }
    }
    out
}

/// Columns padded to their widest cell and three spaces apart, as kubectl prints them.
fn render_table(table: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
