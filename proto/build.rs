//! Compiles every `.proto` under this directory with protox (a pure-Rust
//! protobuf compiler: no `protoc` to install), generates tonic clients and
//! servers, and writes the descriptor set of `numbering.v1` (with its
//! imports) that server reflection serves: only the service this system
//! implements, not the clients' (`billing.v1`, `senderid.v1`).

use std::{
    error::Error,
    path::{Path, PathBuf},
};

use prost::Message;

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();
    // A directory is scanned recursively: a newly added .proto reruns this.
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let served: Vec<_> = files
        .iter()
        .filter(|f| f.starts_with(root.join("numbering")))
        .collect();
    let numbering = protox::compile(&served, [&root])?;
    std::fs::write(out.join("numbering.bin"), numbering.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && !path.ends_with("src") {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
