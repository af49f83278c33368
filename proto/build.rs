//! Compiles `fiscus/v1/*.proto` with protox, a protobuf compiler in pure Rust (no system `protoc`,
//! so a plain `cargo build` works on a fresh machine), writes the encoded descriptor set to
//! `OUT_DIR/fiscus_descriptor.bin` for gRPC reflection, and hands the same descriptor set to tonic's
//! code generator, which writes `OUT_DIR/fiscus.v1.rs`.

use std::error::Error;
use std::path::{Path, PathBuf};

/// Directory of the package `fiscus.v1`, relative to the include root (this crate's directory).
const PACKAGE_DIR: &str = "fiscus/v1";

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR for build scripts")?);
    // A directory makes cargo rerun the script when any file below it changes, or a file is added.
    println!("cargo:rerun-if-changed={PACKAGE_DIR}");

    let protos = proto_files(Path::new(PACKAGE_DIR))?;
    let mut compiler = protox::Compiler::new(["."])?;
    // Source info keeps the .proto comments: they become the generated docs and reflection shows them.
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(&protos)?;
    std::fs::write(out_dir.join("fiscus_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Deterministic order for `map` fields (RecordCommitRequest.expected_seq).
        .btree_map(".")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// The `.proto` files of `dir`, sorted, as paths relative to the include root.
fn proto_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files in {}", dir.display()).into());
    }
    Ok(files)
}
