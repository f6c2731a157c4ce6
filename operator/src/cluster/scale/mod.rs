//! Scaling a cluster's brokers: where partitions go when brokers come or
//! leave ([`plan`]). The voter set never changes (see
//! [`crate::cluster::quorum`]), so scaling only adds or removes brokers
//! above the voters and moves partitions by reassignment.

pub mod plan;
