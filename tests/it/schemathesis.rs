//! The REST contract as an outside fuzzer sees it: schemathesis (PyPI,
//! installed by `./dev setup`) reads the host's /openapi.json and sends
//! what it generates from it, valid and invalid, to both APIs with valid
//! tokens; any 5xx, any status the document does not list for the
//! operation, any answer whose media type the document does not give for
//! that status (every error is problem+json), a body or header that breaks
//! its documented schema, or a wrong method answered otherwise than 405
//! with `Allow`, fails the test.
//!
//! Bounded and repeatable: deterministic generation (the same cases on
//! every run, no example database), a few dozen examples per operation and
//! phase, one worker (about 20 s for both APIs); a run that outlasts its
//! cap is stopped and fails.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::host::Host;

/// Examples per operation and generation phase.
const MAX_EXAMPLES: &str = "40";
/// Wall-clock cap of one run (one API), a hang guard only: about 6 s
/// (portal) and 13 s (admin) on an idle machine, but 40 to 60 s when CI
/// shares its cores, so the cap is far above either: a run is a fixed set
/// of cases, not a time budget.
const RUN_CAP: Duration = Duration::from_secs(300);

fn token(banner: &str, who: &str) -> String {
    banner
        .lines()
        .find(|l| l.trim_start().starts_with(who))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("a token for {who} in the banner:\n{banner}"))
        .to_owned()
}

fn schemathesis_installed() {
    match Command::new("schemathesis").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "schemathesis --version failed ({}): {}; reinstall it with ./dev setup",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "schemathesis is not installed ({e}): this test runs it against the host; \
             install it with ./dev setup (pip install 'schemathesis>=4,<5')"
        ),
    }
}

/// One schemathesis run over the operations under `prefix`; its output if
/// it failed.
fn run(base: &str, prefix: &str, bearer: &str, workdir: &std::path::Path) -> Result<(), String> {
    let mut child = Command::new("schemathesis")
        .current_dir(workdir)
        .env("NO_COLOR", "1")
        .args(["run", &format!("{base}/openapi.json"), "--url", base])
        .args(["--include-path-regex", &format!("^{prefix}")])
        .args(["-H", &format!("Authorization: Bearer {bearer}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             unsupported_method,allow_header_conformance,response_headers_conformance,\
             response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        // the same cases every run (this mode also keeps no example database)
        .args(["--max-examples", MAX_EXAMPLES, "--generation-deterministic"])
        .args(["--workers", "1", "--request-timeout", "30", "--no-shrink"])
        .args(["--no-color", "--output-truncate", "true"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > RUN_CAP {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!("{}\n{}", out.join().unwrap(), err.join().unwrap());
    match status {
        Some(s) if s.success() => {
            eprintln!("schemathesis {prefix}: passed in {:?}", started.elapsed());
            Ok(())
        }
        Some(s) => Err(format!("schemathesis {prefix} failed ({s}):\n{output}")),
        None => Err(format!(
            "schemathesis {prefix} ran over its {RUN_CAP:?} cap:\n{output}"
        )),
    }
}

#[test]
fn schemathesis_finds_no_5xx_no_undocumented_status_and_no_non_problem_error_on_either_api() {
    schemathesis_installed();
    let dir = std::env::temp_dir().join(format!(
        "numbering-schemathesis-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let host = Host::start(&dir.join("data"));
    let portal = run(
        &host.base,
        "/v1/portal/",
        &token(&host.banner, "enterprise-sim"),
        &dir,
    );
    let admin = run(
        &host.base,
        "/v1/admin/",
        &token(&host.banner, "platform admin"),
        &dir,
    );
    assert!(host.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
    let failures: Vec<String> = [portal, admin]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
