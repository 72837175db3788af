//! Compiles every `.proto` under `duban/` with protox (pure Rust, no `protoc` needed) and
//! writes the encoded file descriptor set that the servers hand to gRPC reflection. The few
//! Google files the contracts import are vendored under `google/`: nothing is downloaded.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    collect_protos(&root.join("duban"), &mut protos)?;
    protos.sort();

    // With compile_fds, cargo learns about inputs only from us. The vendored Google files
    // under `google/` are compiled only as imports, but a change to them matters too.
    let mut vendored = Vec::new();
    collect_protos(&root.join("google"), &mut vendored)?;
    for dir in ["duban", "google"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for proto in protos.iter().chain(&vendored) {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    // The set includes every import (the vendored google.api and google.rpc files and the
    // well-known types), so that reflection clients can resolve every file they are given.
    // The embedded set is encoded by protox itself, which keeps the custom options
    // (`duban.common.v1.max_length` …) that servers read their request bounds from;
    // `prost_types` drops extensions, so encoding `fds` would lose them.
    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&protos)?;
    let fds = compiler.file_descriptor_set();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("duban_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // google.rpc (Status, ErrorInfo, BadRequest) is tonic-types' own generated code, so
        // a `google.rpc.Status` in a Duban message is the type `tonic_types::StatusExt`
        // and `ErrorDetails` already read and write.
        .extern_path(".google.rpc", "::tonic_types::pb")
        .compile_fds(fds)?;
    Ok(())
}

fn collect_protos(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
