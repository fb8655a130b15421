//! One chromedriver per test process, and `Browser`: a fresh Chromium session (own profile) with
//! polling helpers that also reach into the widget's open shadow root. Every wait that times out
//! panics with what it waited for, the last value it saw, the page text, the widget's DOM and the
//! browser console, so a failing story says what the page showed.
use std::{
    io::{Read, Write},
    net::{TcpListener as StdListener, TcpStream as StdTcpStream},
    path::PathBuf,
    process::{ChildStdin, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element, key::Key};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Default time a story waits for something to show up.
pub const WAIT: Duration = Duration::from_secs(15);

struct Driver {
    url: String,
    port: u16,
    log: PathBuf,
    /// The shell wrapping chromedriver kills it when this pipe closes (this process exited).
    _keepalive: Mutex<ChildStdin>,
}

static DRIVER: OnceLock<Driver> = OnceLock::new();

fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn chromedriver_binary() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_on_path(&["chromedriver"]))
        .unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed (not on PATH, CHROMEDRIVER unset): the browser \
                 tests need Chromium and chromedriver. Debian/Ubuntu: \
                 apt-get install -y chromium chromium-driver"
            )
        })
}

/// The Chromium binary: `CHROME_BIN`, else whatever chromedriver finds itself (we only check one
/// exists, so that a missing browser fails with a clear message).
fn chrome_binary_override() -> Option<String> {
    if let Some(bin) = std::env::var_os("CHROME_BIN") {
        return Some(bin.to_string_lossy().into_owned());
    }
    if find_on_path(&["chromium", "chromium-browser", "google-chrome", "chrome"]).is_none() {
        panic!(
            "Chromium is not installed (no chromium/chromium-browser/google-chrome on PATH, \
             CHROME_BIN unset): apt-get install -y chromium chromium-driver"
        );
    }
    None
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// A tiny blocking HTTP/1.1 request to chromedriver; the whole response as text.
fn raw_http(port: u16, method: &str, path: &str, body: &str, wait: Duration) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = StdTcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf).into_owned());
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

fn start_driver() -> Driver {
    let bin = chromedriver_binary();
    chrome_binary_override();
    let port = free_port();
    let log = std::env::temp_dir().join(format!(
        "switchboard-chromedriver-{}.log",
        std::process::id()
    ));
    // The shell waits on its stdin; when this process exits (even by a panic or a kill) the pipe
    // closes, `read` returns and chromedriver is terminated.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$1" --port="$2" --log-path="$3" & pid=$!; read _line; kill "$pid" 2>/dev/null; wait "$pid""#)
        .arg("sh")
        .arg(&bin)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let keepalive = child.stdin.take().expect("chromedriver stdin");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(resp) = raw_http(port, "GET", "/status", "", Duration::from_secs(2))
            && resp.replace(' ', "").contains("\"ready\":true")
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "chromedriver ({}) exited with {status} before answering on port {port}; log: {}",
                bin.display(),
                log.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver ({}) did not report ready on port {port} within 30 s; log: {}",
            bin.display(),
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        url: format!("http://127.0.0.1:{port}"),
        port,
        log,
        _keepalive: Mutex::new(keepalive),
    }
}

fn driver() -> &'static Driver {
    DRIVER.get_or_init(start_driver)
}

/// Browser stories take turns (two Chromium instances each on a 2-core machine); raise with
/// `SWITCHBOARD_BROWSER_PARALLEL=N`.
pub async fn story_slot() -> SemaphorePermit<'static> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let n = std::env::var("SWITCHBOARD_BROWSER_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    SLOTS
        .get_or_init(|| Semaphore::new(n))
        .acquire()
        .await
        .expect("semaphore open")
}

/// JavaScript helpers prepended to every script run through `Browser::js`.
const PRELUDE: &str = r#"
const sbRoot = () => { const h = document.querySelector('#switchboard-widget'); return h ? h.shadowRoot : null; };
const sb = (sel) => { const r = sbRoot(); return r ? r.querySelector(sel) : null; };
const sbAll = (sel) => { const r = sbRoot(); return r ? [...r.querySelectorAll(sel)] : []; };
const visible = (el) => {
  if (!el || !el.isConnected) return false;
  const s = getComputedStyle(el);
  return s.display !== 'none' && s.visibility !== 'hidden' && el.getClientRects().length > 0;
};
const messagesIn = (root) => root ? [...root.querySelectorAll('[data-testid=messages] [data-testid=message]')].map(m => {
  const b = m.querySelector('[data-testid=body]');
  return { seq: m.getAttribute('data-seq'), sender: m.getAttribute('data-sender'),
           status: m.getAttribute('data-status'), private: m.getAttribute('data-private'),
           body: b ? b.textContent : null, body_imgs: b ? b.querySelectorAll('img').length : 0 };
}) : null;
"#;

/// A `[data-testid=message]` element as the page shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Msg {
    pub seq: Option<String>,
    pub sender: Option<String>,
    pub status: Option<String>,
    pub private: Option<String>,
    pub body: Option<String>,
    pub body_imgs: u64,
}

impl Msg {
    pub fn text(&self) -> &str {
        self.body.as_deref().unwrap_or_default().trim()
    }
    pub fn seq(&self) -> Option<i64> {
        self.seq.as_deref().and_then(|s| s.trim().parse().ok())
    }
    pub fn is(&self, sender: &str, body: &str) -> bool {
        self.sender.as_deref() == Some(sender) && self.text() == body
    }
}

/// How many messages show exactly `body`.
pub fn count(msgs: &[Msg], body: &str) -> usize {
    msgs.iter().filter(|m| m.text() == body).count()
}

/// Where the messages are: the widget's shadow root or the dashboard document.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Surface {
    Widget,
    Dashboard,
}

pub struct Browser {
    pub client: Client,
    name: &'static str,
    session: String,
    closed: bool,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless Chromium session with its own profile; `name` labels failure output.
    pub async fn new(name: &'static str) -> Browser {
        switchboard::install_crypto_provider();
        let d = driver();
        let profile = tempfile::Builder::new()
            .prefix("sb-chromium-")
            .tempdir()
            .expect("profile dir");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--no-first-run".into(),
            "--window-size=1280,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut opts = json!({ "args": args });
        if let Some(bin) = chrome_binary_override() {
            opts["binary"] = json!(bin);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), opts);
        // An alert stays open (instead of being dismissed) so the XSS story can see it.
        caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&d.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not start a Chromium session through chromedriver at {}: {e} \
                     (chromedriver log: {})",
                    d.url,
                    d.log.display()
                )
            });
        let session = client.session_id().await.ok().flatten().unwrap_or_default();
        Browser {
            client,
            name,
            session,
            closed: false,
            _profile: profile,
        }
    }

    /// Ends the session (closes Chromium). Dropping a `Browser` does the same, blocking.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.closed = true;
    }

    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            let d = self.diagnostics().await;
            panic!("[{}] could not open {url}: {e}\n{d}", self.name);
        }
    }

    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn try_js(&self, body: &str, args: Vec<Value>) -> Result<Value, String> {
        let script = format!("{PRELUDE}\n{body}");
        self.client
            .execute(&script, args)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs `body` (with the prelude helpers in scope) and returns what it returns.
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Value {
        match self.try_js(body, args).await {
            Ok(v) => v,
            Err(e) => {
                let d = self.diagnostics().await;
                panic!("[{}] script failed: {e}\nscript: {body}\n{d}", self.name)
            }
        }
    }

    /// Polls `body` until `done(value)`; panics with diagnostics after `timeout`.
    pub async fn poll(
        &self,
        what: &str,
        timeout: Duration,
        body: &str,
        args: Vec<Value>,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_js(body, args.clone()).await {
                Ok(v) if done(&v) => return v,
                Ok(v) => v.to_string(),
                Err(e) => format!("script error: {e}"),
            };
            if Instant::now() >= deadline {
                let d = self.diagnostics().await;
                panic!(
                    "[{}] timed out after {timeout:?} waiting for {what}\nlast value: {last}\n{d}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Checks `ok(value)` again and again for `dur`; panics at the first value that is not ok.
    pub async fn hold(
        &self,
        what: &str,
        dur: Duration,
        body: &str,
        args: Vec<Value>,
        ok: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + dur;
        while Instant::now() < deadline {
            match self.try_js(body, args.clone()).await {
                Ok(v) if ok(&v) => {}
                other => {
                    let d = self.diagnostics().await;
                    panic!(
                        "[{}] expected {what} for {dur:?}, but saw: {other:?}\n{d}",
                        self.name
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the CSS selector (in the widget's shadow root or the document) matches a
    /// visible element.
    pub async fn wait_visible(&self, surface: Surface, css: &str, timeout: Duration) {
        let body = match surface {
            Surface::Widget => "return visible(sb(arguments[0]));",
            Surface::Dashboard => "return visible(document.querySelector(arguments[0]));",
        };
        let what = format!("{css} to be visible ({surface:?})");
        self.poll(&what, timeout, body, vec![json!(css)], |v| {
            v == &json!(true)
        })
        .await;
    }

    /// The element for `css`, waiting for it: inside the widget's shadow root or the document.
    pub async fn element(&self, surface: Surface, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            let found = match surface {
                Surface::Dashboard => self.client.find(Locator::Css(css)).await,
                Surface::Widget => {
                    match self.client.find(Locator::Css("#switchboard-widget")).await {
                        Ok(host) => match host.shadow_root().await {
                            Ok(root) => root.find(Locator::Css(css)).await,
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    }
                }
            };
            match found {
                Ok(el) => return el,
                Err(e) if Instant::now() >= deadline => {
                    let d = self.diagnostics().await;
                    panic!(
                        "[{}] no element {css} ({surface:?}) after {timeout:?}: {e}\n{d}",
                        self.name
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
            }
        }
    }

    /// Clicks the element for `css` once it exists and is visible.
    pub async fn click(&self, surface: Surface, css: &str) {
        self.wait_visible(surface, css, WAIT).await;
        let el = self.element(surface, css, WAIT).await;
        if let Err(e) = el.click().await {
            let d = self.diagnostics().await;
            panic!(
                "[{}] clicking {css} ({surface:?}) failed: {e}\n{d}",
                self.name
            );
        }
    }

    /// Types `text` into the element for `css` with real key presses.
    pub async fn type_into(&self, surface: Surface, css: &str, text: &str) {
        self.wait_visible(surface, css, WAIT).await;
        let el = self.element(surface, css, WAIT).await;
        if let Err(e) = el.send_keys(text).await {
            let d = self.diagnostics().await;
            panic!(
                "[{}] typing into {css} ({surface:?}) failed: {e}\n{d}",
                self.name
            );
        }
    }

    /// Types `text` and presses Enter.
    pub async fn type_and_enter(&self, surface: Surface, css: &str, text: &str) {
        self.type_into(surface, css, &format!("{text}{}", char::from(Key::Enter)))
            .await;
    }

    /// The messages shown (`[data-testid=messages] [data-testid=message]`), None when the
    /// container does not exist (yet).
    pub async fn messages(&self, surface: Surface) -> Option<Vec<Msg>> {
        let v = self.try_js(messages_script(surface), vec![]).await.ok()?;
        serde_json::from_value(v).ok()
    }

    /// Polls the shown messages until `done(messages)`.
    pub async fn wait_messages(
        &self,
        surface: Surface,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Msg]) -> bool,
    ) -> Vec<Msg> {
        let v = self
            .poll(what, timeout, messages_script(surface), vec![], |v| {
                serde_json::from_value::<Option<Vec<Msg>>>(v.clone())
                    .ok()
                    .flatten()
                    .is_some_and(|m| done(&m))
            })
            .await;
        serde_json::from_value(v).expect("messages parse")
    }

    /// Asserts `ok(messages)` again and again for `dur` (e.g. "still unsent").
    pub async fn hold_messages(
        &self,
        surface: Surface,
        what: &str,
        dur: Duration,
        ok: impl Fn(&[Msg]) -> bool,
    ) {
        self.hold(what, dur, messages_script(surface), vec![], |v| {
            serde_json::from_value::<Option<Vec<Msg>>>(v.clone())
                .ok()
                .flatten()
                .is_some_and(|m| ok(&m))
        })
        .await;
    }

    /// Asserts no JavaScript dialog (alert/confirm/prompt) is open.
    pub async fn assert_no_alert(&self, context: &str) {
        match self.client.get_alert_text().await {
            Ok(text) => panic!(
                "[{}] {context}: a JavaScript alert is open with text {text:?}",
                self.name
            ),
            Err(e) if e.is_no_such_alert() => {}
            Err(e) => panic!(
                "[{}] {context}: checking for an alert failed: {e}",
                self.name
            ),
        }
    }

    /// Calls a Chrome DevTools command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let url = format!("{}/session/{}/goog/cdp/execute", driver().url, self.session);
        reqwest::Client::new()
            .post(url)
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("cdp {cmd}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("cdp {cmd} answer: {e}"))
    }

    /// The browser console since the last call (chromedriver's log endpoint).
    pub async fn console_log(&self) -> String {
        let url = format!("{}/session/{}/se/log", driver().url, self.session);
        let resp = reqwest::Client::new()
            .post(url)
            .json(&json!({ "type": "browser" }))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let v: Value = match resp {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => return format!("(console unavailable: {e})"),
        };
        let lines: Vec<String> = v["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "  {} {}",
                            e["level"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if lines.is_empty() {
            "  (empty)".into()
        } else {
            lines.join("\n")
        }
    }

    /// URL, visible page text, the widget's shadow DOM and the console: for failure messages.
    pub async fn diagnostics(&self) -> String {
        let url = self.current_url().await;
        let page = self
            .try_js(
                r#"const r = sbRoot();
                   return { text: document.body ? document.body.innerText.slice(0, 2000) : null,
                            widget_dom: r ? r.innerHTML.slice(0, 4000) : null };"#,
                vec![],
            )
            .await;
        let page = match page {
            Ok(v) => format!(
                "--- page text:\n{}\n--- widget shadow DOM:\n{}",
                v["text"].as_str().unwrap_or("(none)"),
                v["widget_dom"]
                    .as_str()
                    .unwrap_or("(no #switchboard-widget shadow root)")
            ),
            Err(e) => format!("--- page unreadable: {e}"),
        };
        format!(
            "=== diagnostics of browser `{}` at {url}\n{page}\n--- console:\n{}\n--- chromedriver log: {}\n===",
            self.name,
            self.console_log().await,
            driver().log.display()
        )
    }
}

fn messages_script(surface: Surface) -> &'static str {
    match surface {
        Surface::Widget => "return messagesIn(sbRoot());",
        Surface::Dashboard => "return messagesIn(document);",
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed && !self.session.is_empty() {
            // Best effort, also on panics: without it Chromium would outlive the test.
            let _ = raw_http(
                driver().port,
                "DELETE",
                &format!("/session/{}", self.session),
                "",
                Duration::from_secs(10),
            );
        }
    }
}
