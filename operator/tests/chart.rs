//! The Helm chart (charts/karst) grants the operator exactly the API calls
//! its code makes, and carries the same CRDs as crds/.
//!
//! Three checks over the operator's own source (comments and literals
//! blanked, see `chart/scan.rs`), against the mapping in `chart/calls.rs`:
//! every API call in operator/src is in the mapping; every Kubernetes kind
//! the code names is granted (and every granted kind is named); and the
//! chart's rule files grant exactly the union of what the mapped calls need.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::{CronJob, Job},
    coordination::v1::Lease,
    core::v1::{
        ConfigMap, Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
        Secret, Service, ServiceAccount,
    },
    events::v1::Event,
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use karst_operator::crd::{KafkaCluster, KafkaTopic};
use kube::Resource;

#[path = "chart/calls.rs"]
mod calls;
#[path = "chart/scan.rs"]
mod scan;

use calls::{CALL_PATTERNS, CALLS, Need};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One rule of a Role, as the chart's rule files hold it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// The (group, resource, verb) triples a rule file grants.
fn granted(file: &str) -> BTreeSet<(String, String, String)> {
    let path = root().join("charts/karst/files").join(file);
    let text = std::fs::read_to_string(&path).expect("chart rule file");
    let rules: Vec<Rule> = serde_yaml::from_str(&text).expect("rules parse");
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "{file}: wildcards grant more than the operator uses"
                    );
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

fn owned(need: &Need) -> (String, String, String) {
    (need.0.to_owned(), need.1.to_owned(), need.2.to_owned())
}

fn operator_code() -> BTreeMap<String, String> {
    scan::code_files(&root().join("operator/src"))
}

/// Leases live in the operator's own namespace (a Role there); every other
/// permission is on the watched namespaces.
fn is_leader_election(need: &(String, String, String)) -> bool {
    need.0 == "coordination.k8s.io"
}

#[test]
fn every_api_call_in_the_operator_is_mapped() {
    let code = operator_code();
    let mut problems = Vec::new();
    for (file, text) in &code {
        for pattern in CALL_PATTERNS {
            let found = scan::occurrences(text, pattern);
            let mapped: usize = CALLS
                .iter()
                .filter(|c| c.file == file && c.pattern == *pattern)
                .map(|c| c.count)
                .sum();
            if found != mapped {
                problems.push(format!(
                    "operator/src/{file}: {found} x `{pattern}` in the code, {mapped} in tests/chart/calls.rs"
                ));
            }
        }
    }
    for call in CALLS {
        let found = code
            .get(call.file)
            .map_or(0, |t| scan::occurrences(t, call.pattern));
        if found != call.count {
            problems.push(format!(
                "operator/src/{}: {found} x `{}`, mapped {} times",
                call.file, call.pattern, call.count
            ));
        }
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "the operator's API calls changed; map them (with the verbs they need) in \
         operator/tests/chart/calls.rs and grant them in charts/karst/files/:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_chart_grants_exactly_what_the_calls_need() {
    let needs: BTreeSet<_> = CALLS
        .iter()
        .flat_map(|c| c.needs.iter().map(owned))
        .collect();
    for (file, want) in [
        (
            "operator-rules.yaml",
            needs
                .iter()
                .filter(|n| !is_leader_election(n))
                .cloned()
                .collect::<BTreeSet<_>>(),
        ),
        (
            "leader-election-rules.yaml",
            needs
                .iter()
                .filter(|n| is_leader_election(n))
                .cloned()
                .collect(),
        ),
    ] {
        let have = granted(file);
        let missing: Vec<_> = want.difference(&have).collect();
        let extra: Vec<_> = have.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "charts/karst/files/{file}: missing (group, resource, verb) {missing:?}; \
             granted but not used by any call in tests/chart/calls.rs {extra:?}"
        );
    }
}

/// Kinds the operator could name, with the resource each is granted as.
/// Group and plural come from the types themselves.
fn known_kinds() -> BTreeMap<&'static str, (String, String)> {
    fn kind<K: Resource<DynamicType = ()>>() -> (&'static str, (String, String)) {
        let name: &'static str = Box::leak(K::kind(&()).into_owned().into_boxed_str());
        (
            name,
            (K::group(&()).into_owned(), K::plural(&()).into_owned()),
        )
    }
    BTreeMap::from([
        kind::<KafkaCluster>(),
        kind::<KafkaTopic>(),
        kind::<Pod>(),
        kind::<Service>(),
        kind::<ServiceAccount>(),
        kind::<ConfigMap>(),
        kind::<Secret>(),
        kind::<PersistentVolumeClaim>(),
        kind::<PersistentVolume>(),
        kind::<Namespace>(),
        kind::<Node>(),
        kind::<Endpoints>(),
        // `Event` in the operator is kube's Recorder event: events.k8s.io.
        kind::<Event>(),
        kind::<StatefulSet>(),
        kind::<Deployment>(),
        kind::<DaemonSet>(),
        kind::<ReplicaSet>(),
        kind::<Job>(),
        kind::<CronJob>(),
        kind::<PodDisruptionBudget>(),
        kind::<Lease>(),
        kind::<NetworkPolicy>(),
        kind::<Ingress>(),
        kind::<Role>(),
        kind::<RoleBinding>(),
        kind::<ClusterRole>(),
        kind::<ClusterRoleBinding>(),
    ])
}

#[test]
fn every_kind_the_operator_names_is_granted_and_no_other() {
    let kinds = known_kinds();
    let mut named: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (file, text) in operator_code() {
        for word in scan::identifiers(&text) {
            if let Some(resource) = kinds.get(word) {
                named
                    .entry(resource.clone())
                    .or_default()
                    .insert(file.clone());
            }
        }
    }
    // The Lease is named inside kube-lease-manager, not in our code.
    if operator_code()
        .values()
        .any(|t| scan::occurrences(t, "LeaseManagerBuilder::new(") > 0)
    {
        named
            .entry(("coordination.k8s.io".to_owned(), "leases".to_owned()))
            .or_default()
            .insert("leader.rs".to_owned());
    }
    let granted_resources: BTreeSet<(String, String)> = granted("operator-rules.yaml")
        .into_iter()
        .chain(granted("leader-election-rules.yaml"))
        .map(|(group, resource, _)| {
            let base = resource.split('/').next().unwrap_or_default().to_owned();
            (group, base)
        })
        .collect();
    let not_granted: Vec<_> = named
        .iter()
        .filter(|(r, _)| !granted_resources.contains(*r))
        .collect();
    assert!(
        not_granted.is_empty(),
        "the operator names kinds the chart does not grant (resource: files): {not_granted:?}"
    );
    let unnamed: Vec<_> = granted_resources
        .iter()
        .filter(|r| !named.contains_key(*r))
        .collect();
    assert!(
        unnamed.is_empty(),
        "the chart grants kinds the operator never names: {unnamed:?}"
    );
}

#[test]
fn the_chart_carries_the_generated_crds() {
    let list = |dir: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .expect("CRD directory")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read_to_string(&p).expect("CRD file"))
            })
            .collect()
    };
    let generated = list(&root().join("crds"));
    let chart = list(&root().join("charts/karst/crds"));
    assert!(!generated.is_empty());
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "charts/karst/crds/ must hold the files of crds/"
    );
    for (name, yaml) in &generated {
        assert!(
            chart[name] == *yaml,
            "charts/karst/crds/{name} differs from crds/{name}; copy it: cp crds/*.yaml charts/karst/crds/"
        );
    }
}

/// The chart's appVersion is the tag of both images it expects:
/// `karst-operator:<appVersion>` (its default image) and the broker image
/// `karst:<version>` the operator uses when a KafkaCluster names none, where
/// `<version>` is the operator's own; images/build.sh tags both with the
/// workspace version.
#[test]
fn the_chart_app_version_is_the_operators_version() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Chart {
        app_version: String,
    }
    let text = std::fs::read_to_string(root().join("charts/karst/Chart.yaml")).expect("Chart.yaml");
    let chart: Chart = serde_yaml::from_str(&text).expect("Chart.yaml parses");
    assert_eq!(
        chart.app_version,
        env!("CARGO_PKG_VERSION"),
        "charts/karst/Chart.yaml appVersion must be the operator's version (image tags)"
    );
}
