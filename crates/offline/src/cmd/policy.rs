//! `kcsr policy show`: the site's policy as the station reads it (decision 0010).

use serde_json::json;

use crate::cli::PolicyCommand;
use crate::fail::Result;
use crate::station::Station;
use crate::{policy, report};

pub(crate) fn run(command: PolicyCommand) -> Result<()> {
    let PolicyCommand::Show(args) = command;
    let station = Station::new(&args.keys);
    let path = policy::path(&station);
    let loaded = policy::load(&station)?;
    if args.output.json {
        return report::json(&json!({
            "path": path.display().to_string(),
            "policy": loaded.as_ref().map(|l| &l.policy),
        }));
    }
    match &loaded {
        Some(l) => {
            let mut text = format!("# {}\n", path.display());
            for line in l.policy.describe() {
                text.push_str(&line);
                text.push('\n');
            }
            report::text(&text)
        }
        None => {
            if !args.output.quiet {
                report::say(&format!(
                    "kcsr: no station policy ({} does not exist): requests are checked against the cluster's rules only",
                    path.display()
                ));
            }
            Ok(())
        }
    }
}
