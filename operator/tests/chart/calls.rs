//! The mapping from the operator's code to the RBAC it needs: every call
//! that reaches the Kubernetes API (kube's `Api` methods, and the kube /
//! kube-lease-manager helpers that call it for us), where it is, how often,
//! and the (API group, resource, verb) triples it needs.
//!
//! `chart.rs` checks both directions: each listed call occurs exactly that
//! often, no API call in operator/src is missing from this list, and the
//! chart's rules grant the union of the needs, nothing more. When the
//! operator gains a call, the test names it; add it here and to
//! charts/karst/files/*-rules.yaml.

/// One (API group, resource or resource/subresource, verb) permission.
pub(crate) type Need = (&'static str, &'static str, &'static str);

/// Calls of one kind at one place of the operator.
pub(crate) struct Call {
    /// File under operator/src.
    pub(crate) file: &'static str,
    /// The text of the call (see [`CALL_PATTERNS`]) or of the code that needs a permission.
    pub(crate) pattern: &'static str,
    /// How many times `pattern` occurs in `file`.
    pub(crate) count: usize,
    /// What the calls need.
    pub(crate) needs: &'static [Need],
}

/// Texts that mark a call of the Kubernetes API. `Api::get` and
/// `Api::replace` are left out (`.get(` and `.replace(` are mostly maps and
/// strings): the operator reads by name with `get_opt`/`get_metadata_opt`
/// and writes with patches, and a new kind is caught by the kind check anyway.
pub(crate) const CALL_PATTERNS: &[&str] = &[
    ".get_opt(",
    ".get_metadata(",
    ".get_metadata_opt(",
    ".get_status(",
    ".list(",
    ".list_metadata(",
    ".create(",
    ".create_subresource(",
    ".patch(",
    ".patch_status(",
    ".patch_metadata(",
    ".patch_subresource(",
    ".replace_status(",
    ".replace_subresource(",
    ".delete(",
    ".delete_collection(",
    ".evict(",
    "Controller::new(",
    ".owns(",
    ".watches(",
    "watcher(",
    "metadata_watcher(",
    "reflector(",
    "finalizer(",
    "Recorder::new(",
    "LeaseManagerBuilder::new(",
];

const KC: &str = "kafkaclusters";
const KT: &str = "kafkatopics";
const KARST: &str = "kafka.karst.dev";

/// Every child kind of a KafkaCluster (`DesiredCluster`), server-side applied.
const CHILDREN: [(&str, &str); 5] = [
    ("", "configmaps"),
    ("", "services"),
    ("", "serviceaccounts"),
    ("apps", "statefulsets"),
    ("policy", "poddisruptionbudgets"),
];

macro_rules! children {
    ($verb:literal) => {
        &[
            (CHILDREN[0].0, CHILDREN[0].1, $verb),
            (CHILDREN[1].0, CHILDREN[1].1, $verb),
            (CHILDREN[2].0, CHILDREN[2].1, $verb),
            (CHILDREN[3].0, CHILDREN[3].1, $verb),
            (CHILDREN[4].0, CHILDREN[4].1, $verb),
        ]
    };
}

/// The mapping. A watch (a controller's main resource, `owns`, `watches`,
/// `watcher`) needs list and watch.
pub(crate) const CALLS: &[Call] = &[
    // --- KafkaCluster controller -----------------------------------------
    Call {
        file: "cluster/controller.rs",
        pattern: "Controller::new(",
        count: 1,
        needs: &[(KARST, KC, "list"), (KARST, KC, "watch")],
    },
    Call {
        file: "cluster/controller.rs",
        pattern: ".owns(",
        count: 5,
        needs: &[
            ("", "configmaps", "list"),
            ("", "configmaps", "watch"),
            ("", "services", "list"),
            ("", "services", "watch"),
            ("", "serviceaccounts", "list"),
            ("", "serviceaccounts", "watch"),
            ("apps", "statefulsets", "list"),
            ("apps", "statefulsets", "watch"),
            ("policy", "poddisruptionbudgets", "list"),
            ("policy", "poddisruptionbudgets", "watch"),
        ],
    },
    Call {
        file: "cluster/controller.rs",
        pattern: ".watches(",
        count: 1,
        needs: &[("", "pods", "list"), ("", "pods", "watch")],
    },
    // forget_deleted: a second watch of the KafkaClusters.
    Call {
        file: "cluster/controller.rs",
        pattern: "watcher(",
        count: 1,
        needs: &[(KARST, KC, "list"), (KARST, KC, "watch")],
    },
    // observe: the cluster's Pods and volume claims by label.
    Call {
        file: "cluster/dereference.rs",
        pattern: ".list(",
        count: 2,
        needs: &[("", "pods", "list"), ("", "persistentvolumeclaims", "list")],
    },
    Call {
        file: "cluster/dereference.rs",
        pattern: ".get_opt(",
        count: 2,
        needs: &[("apps", "statefulsets", "get"), ("", "configmaps", "get")],
    },
    // check_one: is each child's name free or ours?
    Call {
        file: "cluster/ownership.rs",
        pattern: ".get_metadata_opt(",
        count: 1,
        needs: children!("get"),
    },
    // apply: server-side apply of every child; creating a missing object
    // through a patch needs create as well.
    Call {
        file: "cluster/reconcile.rs",
        pattern: ".patch(",
        count: 1,
        needs: &[
            (CHILDREN[0].0, CHILDREN[0].1, "patch"),
            (CHILDREN[0].0, CHILDREN[0].1, "create"),
            (CHILDREN[1].0, CHILDREN[1].1, "patch"),
            (CHILDREN[1].0, CHILDREN[1].1, "create"),
            (CHILDREN[2].0, CHILDREN[2].1, "patch"),
            (CHILDREN[2].0, CHILDREN[2].1, "create"),
            (CHILDREN[3].0, CHILDREN[3].1, "patch"),
            (CHILDREN[3].0, CHILDREN[3].1, "create"),
            (CHILDREN[4].0, CHILDREN[4].1, "patch"),
            (CHILDREN[4].0, CHILDREN[4].1, "create"),
        ],
    },
    Call {
        file: "cluster/reconcile.rs",
        pattern: ".patch_status(",
        count: 1,
        needs: &[(KARST, "kafkaclusters/status", "patch")],
    },
    // Children's owner reference blocks the owner's deletion: with the
    // OwnerReferencesPermissionEnforcement admission plugin that needs
    // update on the owner's finalizers.
    Call {
        file: "cluster/build/labels.rs",
        pattern: "block_owner_deletion: Some(true)",
        count: 1,
        needs: &[(KARST, "kafkaclusters/finalizers", "update")],
    },
    // Node id label on Kubernetes before 1.28.
    Call {
        file: "cluster/node_id.rs",
        pattern: ".patch(",
        count: 1,
        needs: &[("", "pods", "patch")],
    },
    // Volume expansion.
    Call {
        file: "cluster/storage.rs",
        pattern: ".patch(",
        count: 1,
        needs: &[("", "persistentvolumeclaims", "patch")],
    },
    // --- KafkaTopic controller -------------------------------------------
    Call {
        file: "topic/reconcile.rs",
        pattern: "Controller::new(",
        count: 1,
        needs: &[(KARST, KT, "list"), (KARST, KT, "watch")],
    },
    Call {
        file: "topic/reconcile.rs",
        pattern: ".watches(",
        count: 1,
        needs: &[(KARST, KC, "list"), (KARST, KC, "watch")],
    },
    // kube's finalizer helper adds and removes it with JSON patches.
    Call {
        file: "topic/reconcile.rs",
        pattern: "finalizer(",
        count: 1,
        needs: &[(KARST, KT, "patch")],
    },
    Call {
        file: "topic/reconcile.rs",
        pattern: ".patch_status(",
        count: 1,
        needs: &[(KARST, "kafkatopics/status", "patch")],
    },
    Call {
        file: "topic/reconcile.rs",
        pattern: ".get_opt(",
        count: 1,
        needs: &[(KARST, KC, "get")],
    },
    Call {
        file: "topic/dereference.rs",
        pattern: ".get_opt(",
        count: 1,
        needs: &[(KARST, KC, "get")],
    },
    // Sibling topics (two KafkaTopics naming one topic).
    Call {
        file: "topic/dereference.rs",
        pattern: ".list(",
        count: 1,
        needs: &[(KARST, KT, "list")],
    },
    // --- shared ----------------------------------------------------------
    // kube's Recorder creates an events.k8s.io/v1 Event and patches its
    // series when the same event repeats.
    Call {
        file: "events.rs",
        pattern: "Recorder::new(",
        count: 1,
        needs: &[
            ("events.k8s.io", "events", "create"),
            ("events.k8s.io", "events", "patch"),
        ],
    },
    // kube-lease-manager reads the Lease, creates it when missing, and
    // takes or renews it with patches (it deletes Leases only in its tests).
    Call {
        file: "leader.rs",
        pattern: "LeaseManagerBuilder::new(",
        count: 1,
        needs: &[
            ("coordination.k8s.io", "leases", "get"),
            ("coordination.k8s.io", "leases", "create"),
            ("coordination.k8s.io", "leases", "patch"),
        ],
    },
    // --- rolling restarts (cluster/rollout/) ---------------------------
    // A broker Pod due for a restart is deleted (the StatefulSet controller
    // re-creates it from the new template).
    Call {
        file: "cluster/rollout/mod.rs",
        pattern: ".delete(",
        count: 1,
        needs: &[("", "pods", "delete")],
    },
    // The manual-roll annotation is copied onto the Pods (merge patch) and
    // removed from the KafkaCluster once copied.
    Call {
        file: "cluster/rollout/mod.rs",
        pattern: ".patch(",
        count: 2,
        needs: &[("", "pods", "patch"), (KARST, KC, "patch")],
    },
    // --- rack awareness: the broker Pods' init step --------------------
    // Runs as the broker ServiceAccount, not the operator: granted by
    // files/broker-rack-rules.yaml, not the operator's rules.
    Call {
        file: "rack.rs",
        pattern: "Api::<Node>::all(",
        count: 1,
        needs: &[("", "nodes", "get")],
    },
];
