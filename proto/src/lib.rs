//! The Fiscus gRPC contract, package `fiscus.v1`: the code tonic and prost generate from
//! `proto/fiscus/v1/*.proto`, and the encoded descriptor set for gRPC server reflection.
//!
//! The `.proto` files are the documentation integrators read (their comments are carried into the
//! generated docs below): `money.proto` (amounts as decimal strings), `event.proto` (every event
//! kind), `ledger.proto` (service `Ledger`: record and read) and `audit.proto` (service `Audit`:
//! heads, verification, raw chain export).
//!
//! This crate holds no logic: no validation, no conversion to the ledger's types, no status codes.
//! Those live in `fiscusd` and `fiscus-client`. [`pb`] is the one public path to the generated code,
//! which is never edited by hand.

/// Generated messages, the `ledger_server`/`audit_server` traits and the `ledger_client`/
/// `audit_client` clients of package `fiscus.v1`.
pub mod pb {
    tonic::include_proto!("fiscus.v1");
}

/// The largest message either side of the contract sends, in bytes: 4 MiB, the default receive
/// limit of gRPC's own clients and of tonic (`ledger.proto`, "Message sizes"). Clients set their
/// receive limit to it.
pub const MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The most bytes the listed items of one answer take, encoded (events, statement lines, records,
/// each with its field tag and length): 3 MiB, which leaves the rest of [`MESSAGE_BYTES_MAX`] for
/// the answer's other fields. A page ends before the item that would pass it.
pub const ITEMS_BYTES_MAX: usize = 3 * 1024 * 1024;

/// The encoded `google.protobuf.FileDescriptorSet` of every `fiscus.v1` file, with source info
/// (comments), for `tonic_reflection::server::Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fiscus_descriptor.bin"));

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::field_descriptor_proto::Type;
    use prost_types::{FileDescriptorProto, FileDescriptorSet};

    use super::FILE_DESCRIPTOR_SET;

    /// Every RPC of the contract: service, method, server-streaming.
    const RPCS: &[(&str, &str, bool)] = &[
        ("Ledger", "OpenProject", false),
        ("Ledger", "ChangeTerms", false),
        ("Ledger", "RecordCommit", false),
        ("Ledger", "GetBalance", false),
        ("Ledger", "GetStatement", false),
        ("Ledger", "ListEvents", false),
        ("Ledger", "ListProjects", false),
        ("Ledger", "GetTrialBalance", false),
        ("Ledger", "ListPendingExpenses", false),
        ("Ledger", "ListOpenPledges", false),
        ("Ledger", "Subscribe", true),
        ("Audit", "GetHead", false),
        ("Audit", "Verify", false),
        ("Audit", "ExportChain", true),
        ("Audit", "GetCheckpoint", false),
        ("Audit", "GetInclusionProof", false),
        ("Audit", "GetConsistencyProof", false),
        ("Audit", "GetHeadProof", false),
        ("Audit", "ListCommitEntries", false),
        ("Audit", "ListCheckpoints", false),
    ];

    fn files() -> Vec<FileDescriptorProto> {
        let set =
            FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the build script writes a valid descriptor set");
        assert!(!set.file.is_empty());
        for f in &set.file {
            assert_eq!(f.package(), "fiscus.v1", "{} is in package fiscus.v1", f.name());
            assert_eq!(f.syntax(), "proto3", "{} is proto3", f.name());
        }
        set.file
    }

    #[test]
    fn descriptor_set_names_both_services_and_every_rpc() {
        let files = files();
        let services: Vec<_> = files.iter().flat_map(|f| &f.service).collect();
        let mut names: Vec<&str> = services.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        assert_eq!(names, ["Audit", "Ledger"]);

        let mut found = Vec::new();
        for s in &services {
            for m in &s.method {
                let rpc = m.name();
                assert_eq!(m.input_type(), format!(".fiscus.v1.{rpc}Request"), "{rpc} takes its own request");
                assert_eq!(m.output_type(), format!(".fiscus.v1.{rpc}Response"), "{rpc} answers its own response");
                assert!(!m.client_streaming(), "{rpc} takes one request");
                found.push((s.name(), rpc, m.server_streaming()));
            }
        }
        let mut expected = RPCS.to_vec();
        expected.sort_unstable();
        found.sort_unstable();
        assert_eq!(found, expected);
    }

    #[test]
    fn event_has_every_kind_of_design_in_one_oneof() {
        let files = files();
        let event = files.iter().flat_map(|f| &f.message_type).find(|m| m.name() == "Event").expect("message Event");
        // Besides `kind`, proto3 `optional` fields (reference) make synthetic one-field oneofs.
        let real: Vec<i32> = (0i32..)
            .zip(&event.oneof_decl)
            .filter(|(i, _)| !event.field.iter().any(|f| f.oneof_index == Some(*i) && f.proto3_optional()))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(real.len(), 1, "Event has one real oneof");
        let kind = real[0];
        assert_eq!(event.oneof_decl[usize::try_from(kind).expect("small index")].name(), "kind");
        let kinds: Vec<&str> = event
            .field
            .iter()
            .filter(|f| f.oneof_index == Some(kind))
            .map(|f| f.type_name().trim_start_matches(".fiscus.v1."))
            .collect();
        assert_eq!(kinds, fiscus_ledger::EventKind::NAMES, "one message per ledger event kind, in its order");
        // The generated oneof matches, so the daemon's conversion can be exhaustive.
        let _ = super::pb::event::Kind::PeriodClosed(super::pb::PeriodClosed { through: String::new() });
    }

    #[test]
    fn no_floating_point_anywhere_on_the_wire() {
        for f in files() {
            for m in &f.message_type {
                // Only `map` fields' entry types are nested; check their fields as well.
                let nested = m.nested_type.iter().inspect(|n| {
                    let map_entry = n.options.as_ref().is_some_and(|o| o.map_entry());
                    assert!(
                        map_entry,
                        "{}.{} is a map entry; the contract nests no other messages",
                        m.name(),
                        n.name()
                    );
                });
                for field in m.field.iter().chain(nested.flat_map(|n| &n.field)) {
                    assert!(
                        !matches!(field.r#type(), Type::Float | Type::Double),
                        "{}.{} must not be a float: amounts are decimal strings",
                        m.name(),
                        field.name()
                    );
                }
            }
        }
    }

    /// Every message, field, enum, enum value, service and RPC carries a comment: the `.proto`
    /// files are the documentation integrators read.
    #[test]
    fn every_element_is_commented() {
        for f in files() {
            let info = f.source_code_info.as_ref().expect("the build script keeps source info");
            let commented = |path: &[i32]| {
                info.location
                    .iter()
                    .any(|l| l.path == path && l.leading_comments.as_deref().is_some_and(|c| !c.trim().is_empty()))
            };
            let mut missing = Vec::new();
            // Field numbers of descriptor.proto: message_type 4, field 2, enum_type 5, value 2,
            // service 6, method 2.
            for (i, m) in (0i32..).zip(&f.message_type) {
                if !commented(&[4, i]) {
                    missing.push(m.name().to_owned());
                }
                for (j, field) in (0i32..).zip(&m.field) {
                    if !commented(&[4, i, 2, j]) {
                        missing.push(format!("{}.{}", m.name(), field.name()));
                    }
                }
            }
            for (i, e) in (0i32..).zip(&f.enum_type) {
                if !commented(&[5, i]) {
                    missing.push(e.name().to_owned());
                }
                for (j, v) in (0i32..).zip(&e.value) {
                    if !commented(&[5, i, 2, j]) {
                        missing.push(format!("{}.{}", e.name(), v.name()));
                    }
                }
            }
            for (i, s) in (0i32..).zip(&f.service) {
                if !commented(&[6, i]) {
                    missing.push(s.name().to_owned());
                }
                for (j, m) in (0i32..).zip(&s.method) {
                    if !commented(&[6, i, 2, j]) {
                        missing.push(format!("{}.{}", s.name(), m.name()));
                    }
                }
            }
            assert!(missing.is_empty(), "{}: uncommented {missing:?}", f.name());
        }
    }

    /// The workspace's tonic-health and tonic-reflection fit the generated code's tonic, and
    /// reflection accepts the descriptor set.
    #[test]
    fn reflection_accepts_the_descriptor_set_next_to_health() {
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("reflection accepts the descriptor set");
        let (_reporter, health) = tonic_health::server::health_reporter();
        let _router = tonic::transport::Server::builder().add_service(health).add_service(reflection);
        assert_eq!(super::pb::ledger_server::SERVICE_NAME, "fiscus.v1.Ledger");
        assert_eq!(super::pb::audit_server::SERVICE_NAME, "fiscus.v1.Audit");
    }
}
