//! A headless Chromium driven over the Chrome DevTools Protocol, to test
//! pages as a browser runs them. The protocol runs over a pipe
//! (`--remote-debugging-pipe`: commands in on fd 3, answers out on fd 4, each
//! a JSON message ended by a NUL byte), so no port, no websocket and no
//! crate are needed. Waits are for conditions on the page (polled), with a
//! generous deadline that only a broken page reaches.
//!
//! Chromium is Debian's `chromium` package, installed by `./dev setup`;
//! without it [`Chromium::launch`] panics and says so.

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);

pub struct Chromium {
    child: Child,
    commands: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    /// Events received so far (console calls, exceptions, log entries).
    events: Vec<Value>,
    profile: PathBuf,
}

/// The `chromium` executable on PATH (Debian's package), if installed.
pub fn executable() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

impl Chromium {
    /// Starts a headless Chromium with a fresh profile; panics when
    /// Chromium is not installed.
    pub fn launch() -> Self {
        let exe = executable().expect(
            "chromium is not installed (Debian package `chromium`): run `./dev setup`; \
             the docs page is tested in a real browser",
        );
        let profile = std::env::temp_dir().join(format!(
            "numbering-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let stderr = std::fs::File::create(profile.join("stderr.log")).unwrap();
        // fd 3 (commands) is our stdin pipe, fd 4 (answers) our stdout pipe
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.join("data").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let commands = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut buf = Vec::new();
            while out.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(msg) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                buf.clear();
            }
        });
        Self {
            child,
            commands,
            messages,
            next_id: 0,
            events: Vec::new(),
            profile,
        }
    }

    /// Sends a command (to a page's session, or to the browser) and waits
    /// for its answer; panics on a protocol error.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("chromium went away ({e}): {}", self.stderr()));
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let msg = self.messages.recv_timeout(left).unwrap_or_else(|e| {
                panic!(
                    "no answer to {method} from chromium ({e}): {}",
                    self.stderr()
                )
            });
            if msg["id"] == id {
                if let Some(error) = msg.get("error") {
                    panic!("{method} failed: {error}");
                }
                return msg["result"].clone();
            }
            if msg.get("method").is_some() {
                self.events.push(msg);
            }
        }
    }

    /// A new tab, attached, with console, log and network events on.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in [
            "Runtime.enable",
            "Log.enable",
            "Page.enable",
            "Network.enable",
        ] {
            self.call(Some(&session), domain, json!({}));
        }
        self.call(Some(&session), "Page.navigate", json!({ "url": url }));
        Page { session }
    }

    /// What the pages reported as errors: uncaught exceptions,
    /// `console.error` / `console.assert` calls, and error log entries
    /// (failed loads, blocked requests).
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(format!(
                        "exception: {}",
                        p["exceptionDetails"]["exception"]["description"]
                            .as_str()
                            .unwrap_or_else(|| p["exceptionDetails"]["text"]
                                .as_str()
                                .unwrap_or_default())
                    )),
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
                        "log: {} {}",
                        p["entry"]["text"],
                        p["entry"]["url"].as_str().unwrap_or_default()
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// Every URL the pages requested so far (documents, scripts, styles,
    /// fetches), in order.
    pub fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.profile.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A tab of a [`Chromium`].
pub struct Page {
    session: String,
}

impl Page {
    /// Evaluates `js` in the page (awaiting a promise) and returns its value;
    /// panics if it throws.
    pub fn eval(&self, browser: &mut Chromium, js: &str) -> Value {
        let r = browser.call(
            Some(&self.session),
            "Runtime.evaluate",
            json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `js` evaluates to something truthy, and returns it.
    pub fn wait_for(&self, browser: &mut Chromium, what: &str, js: &str) -> Value {
        let until = Instant::now() + DEADLINE;
        loop {
            let v = self.eval(browser, js);
            if !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("") {
                return v;
            }
            // an uncaught exception will not go away: fail at once
            let errors = browser.errors();
            assert!(
                Instant::now() < until && !errors.iter().any(|e| e.starts_with("exception")),
                "waiting for {what}; errors so far: {errors:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets the viewport to `width` × `height` CSS pixels.
    pub fn resize(&self, browser: &mut Chromium, width: u32, height: u32) {
        browser.call(
            Some(&self.session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
    }

    /// A PNG of the whole page (beyond the viewport), written to `path`.
    pub fn screenshot(&self, browser: &mut Chromium, path: &std::path::Path) {
        use base64::Engine as _;
        let shot = browser.call(
            Some(&self.session),
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Clicks the element `selector` once it is there.
    pub fn click(&self, browser: &mut Chromium, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.wait_for(
            browser,
            selector,
            &format!("(() => {{ const e = document.querySelector({sel}); if (e) e.click(); return !!e; }})()"),
        );
    }

    /// Types `text` into the input `selector`, as a user would (the page's
    /// own input handlers see it).
    pub fn type_into(&self, browser: &mut Chromium, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.wait_for(
            browser,
            selector,
            &format!("(() => {{ const e = document.querySelector({sel}); if (e) e.focus(); return !!e && document.activeElement === e; }})()"),
        );
        browser.call(
            Some(&self.session),
            "Input.insertText",
            json!({ "text": text }),
        );
    }
}
