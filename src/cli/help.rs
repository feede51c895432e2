//! `--help` that teaches: the derived definitions (`args`, `train_args`) with every `train`
//! default written from `TrainConfig::default()` and the preset sizes beside every `--preset`,
//! so neither can drift from the values the code uses.

use super::args::Cli;
use crate::spec::config::{ModelConfig, PRESETS};
use crate::train::config::TrainConfig;
use clap::CommandFactory;

/// The command-line definition the binary parses.
pub fn command() -> clap::Command {
    let defaults = toml::Table::try_from(TrainConfig::default()).unwrap_or_default();
    Cli::command().mut_subcommand("train", |c| with_defaults(c, &defaults)).mut_subcommands(with_preset_sizes)
}

/// A setting's default as a user types it.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Appends `[default: V]` to every option named like a setting with a default (switches,
/// which are off, and options whose help already states its default are left as they are).
/// Every option passes through `mut_arg`, which moves it last: in their order, so that the
/// headings keep the order of the definitions.
fn with_defaults(c: clap::Command, defaults: &toml::Table) -> clap::Command {
    let ids: Vec<String> = c.get_arguments().map(|a| a.get_id().to_string()).collect();
    ids.into_iter().fold(c, |c, id| {
        let default = match defaults.get(&id) {
            Some(toml::Value::Boolean(_)) | None => None,
            Some(v) => Some(shown(v)),
        };
        c.mut_arg(&id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            match default {
                Some(v) if !help.contains("[default:") => {
                    a.help(format!("{} [default: {v}]", help.trim_end_matches('.')))
                }
                _ => a,
            }
        })
    })
}

/// The sizes of every preset, after the help of `--preset` (in this command and its own
/// sub-commands).
fn with_preset_sizes(c: clap::Command) -> clap::Command {
    let c = c.mut_subcommands(with_preset_sizes);
    if !c.get_arguments().any(|a| a.get_id() == "preset") {
        return c;
    }
    let sizes: Vec<String> =
        PRESETS.iter().filter_map(|&p| ModelConfig::preset(p).ok().map(|m| format!("{p} ({})", m.summary()))).collect();
    c.mut_arg("preset", |a| {
        let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        a.help(format!("{help} Presets: {}.", sizes.join("; ")))
    })
}

#[cfg(test)]
mod tests {
    use super::command;

    fn long_help(path: &[&str]) -> (clap::Command, String) {
        let mut c = command();
        for name in path {
            c = c.find_subcommand(name).cloned().unwrap_or_else(|| panic!("no sub-command {name}"));
        }
        let text = c.render_long_help().to_string();
        (c, text)
    }

    #[test]
    fn train_help_has_headings_and_every_option_is_described_with_its_default() {
        let (c, text) = long_help(&["train"]);
        for heading in [
            "Data:",
            "Model:",
            "ADCLR and DINO:",
            "Views:",
            "Optimisation:",
            "Schedule:",
            "Evaluation:",
            "Run directory:",
            "Device:",
        ] {
            assert!(text.contains(heading), "no heading {heading} in\n{text}");
        }
        let no_default = ["config", "resume", "stop_after", "backend", "adapter", "limits"];
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if matches!(a.get_action(), clap::ArgAction::Help | clap::ArgAction::HelpLong | clap::ArgAction::Version) {
                continue;
            }
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.len() > 10, "--{id} has no help text");
            if !matches!(a.get_action(), clap::ArgAction::SetTrue) && !no_default.contains(&id) {
                assert!(help.contains("default"), "--{id} shows no default: {help}");
            }
        }
        for shown in
            ["[default: 8]", "[default: 0.0005]", "[default: cls+patches+self]", "[default: 0.4 1]", "[default: auto]"]
        {
            assert!(text.contains(shown), "{shown} missing from\n{text}");
        }
        assert!(text.contains("tiny (32 px, patch 4, D 192, depth 6, 3 heads, K 4096, local 16 px)"), "{text}");
        assert!(text.contains("--batch-size"), "DINO's name for the batch is accepted");
    }

    #[test]
    fn every_option_of_every_command_is_described_and_presets_show_their_sizes() {
        let root = command();
        let mut stack: Vec<(String, clap::Command)> = vec![(String::new(), root)];
        while let Some((path, c)) = stack.pop() {
            for a in c.get_arguments() {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(!help.trim().is_empty(), "`{path} --{}` has no help text", a.get_id());
                if a.get_id() == "preset" {
                    assert!(help.contains("vit-s16 (224 px, patch 16, D 384"), "{path}: {help}");
                }
            }
            for sub in c.get_subcommands() {
                stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
    }
}
