//! Renders docs/configuration.md's tables from the catalogues and checks
//! that every setting has a line in the reference.

use std::collections::BTreeMap;

use super::super::broker::BrokerConfig;
use super::super::broker_keys;
use super::super::catalogue::Kind;
use super::super::dynamic;
use super::super::topic::{self, describe_topic_configs};
use super::{BROKER, Effect, TOPIC};
use crate::doc_section::{cell, check};

const DOC: &str = "docs/configuration.md";
const RERUN: &str = "cargo test -p karst-broker --lib config_reference";

/// The values a setting's check lets through, in words.
fn valid_values(kind: Kind) -> String {
    let at_least = |what: &str, min: i64| {
        if min <= i64::from(i32::MIN) {
            what.to_owned()
        } else {
            format!("{what} ≥ {min}")
        }
    };
    let quoted = |values: &[&str]| {
        values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        Kind::Int(min) => at_least("int", min),
        Kind::Short(min) => at_least("short", min),
        Kind::Long(min) => at_least("long", min),
        Kind::Ratio => "0.0 to 1.0".to_owned(),
        Kind::Bool => "`true`, `false`".to_owned(),
        Kind::Str => "string".to_owned(),
        Kind::List => "list".to_owned(),
        Kind::OneOf(values) => format!("one of {}", quoted(values)),
        Kind::ListOf(values) => format!("list of {}", quoted(values)),
    }
}

fn effect(effect: Effect) -> String {
    cell(&match effect {
        Effect::Acts(what) => what.to_owned(),
        Effect::None(why) => format!("*Accepted, no effect*: {why}."),
    })
}

fn code_or_dash(value: Option<&str>) -> String {
    match value {
        Some("") | None => "—".to_owned(),
        Some(v) => format!("`{}`", cell(v)),
    }
}

fn broker_table() -> String {
    let mut out = String::from(
        "| property | default | valid values | dynamic | what it does in Karst |\n|---|---|---|---|---|\n",
    );
    for (key, (name, what)) in broker_keys::KEYS.iter().zip(BROKER) {
        assert_eq!(key.name, *name, "BROKER follows broker_keys::KEYS");
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} | {} |\n",
            code_or_dash(key.default),
            valid_values(key.kind),
            if dynamic::is_dynamic(name) {
                "yes"
            } else {
                "—"
            },
            effect(*what)
        ));
    }
    out
}

fn topic_table() -> String {
    let defaults = describe_topic_configs(&BTreeMap::new(), &BrokerConfig::default());
    let mut out = String::from(
        "| config | default | broker setting for the default | valid values | what it does in Karst |\n\
         |---|---|---|---|---|\n",
    );
    for ((key, (name, what)), default) in topic::KEYS.iter().zip(TOPIC).zip(&defaults) {
        assert_eq!(key.name, *name, "TOPIC follows topic::KEYS");
        let broker_names: Vec<String> = key.synonyms.iter().map(|s| format!("`{s}`")).collect();
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} | {} |\n",
            code_or_dash(default.value.as_deref()),
            if broker_names.is_empty() {
                "—".to_owned()
            } else {
                broker_names.join(", ")
            },
            valid_values(key.kind),
            effect(*what)
        ));
    }
    out
}

#[test]
fn every_broker_setting_has_a_line_in_the_reference() {
    let catalogue: Vec<&str> = broker_keys::KEYS.iter().map(|k| k.name).collect();
    let documented: Vec<&str> = BROKER.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        documented, catalogue,
        "config::reference::BROKER lists every broker key in catalogue order"
    );
}

#[test]
fn every_topic_config_has_a_line_in_the_reference() {
    let catalogue: Vec<&str> = topic::KEYS.iter().map(|k| k.name).collect();
    let documented: Vec<&str> = TOPIC.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        documented, catalogue,
        "config::reference::TOPIC lists every topic config in catalogue order"
    );
}

/// Set `KARST_BLESS=1` to rewrite the document's tables.
#[test]
fn config_reference_broker_matches_the_code() {
    check(
        DOC,
        "config_reference_broker",
        "broker/src/config/broker_keys.rs and reference.rs",
        &broker_table(),
        RERUN,
    );
}

/// Set `KARST_BLESS=1` to rewrite the document's tables.
#[test]
fn config_reference_topic_matches_the_code() {
    check(
        DOC,
        "config_reference_topic",
        "broker/src/config/topic.rs and reference.rs",
        &topic_table(),
        RERUN,
    );
}

#[test]
fn the_reference_says_which_settings_act() {
    let table = broker_table();
    assert!(table.contains("| `log.dirs` | — | list | — | Data directories"));
    assert!(
        table.contains(
            "| `num.network.threads` | — | int ≥ 1 | — | Async threads that read requests"
        )
    );
    assert!(table.contains(
        "| `num.recovery.threads.per.data.dir` | `2` | int ≥ 1 | — | *Accepted, no effect*"
    ));
    assert!(table.contains("| `message.max.bytes` | `1048588` | int ≥ 0 | yes |"));
    assert!(
        table.contains(
            "| `num.io.threads` | `8` | int ≥ 1 | — | Threads that run partition appends"
        )
    );
    let table = topic_table();
    assert!(table.contains(
        "| `retention.ms` | `604800000` | `log.retention.ms`, `log.retention.minutes`, `log.retention.hours` | long ≥ -1 |"
    ));
}
