//! A real SMTP server in-process (mailin-embedded) on 127.0.0.1:0 that records what it
//! receives and answers RCPT with scripted replies (4xx greylisting, 5xx refusal) when a test
//! asks it to. (Refusing at RCPT rather than at the end of DATA: mailin keeps reading DATA
//! after a refusal there, which no client survives.)
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{response, Handler, Response, Server};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Default)]
pub struct Recorded {
    pub mails: Vec<Mail>,
    /// Every delivery attempt (RCPT), accepted or not.
    pub attempts: usize,
    /// Replies for the next RCPTs, instead of 250.
    pub script: VecDeque<(u16, String)>,
}

#[derive(Clone)]
struct Recorder {
    shared: Arc<Mutex<Recorded>>,
    changed: Arc<watch::Sender<u64>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_string();
        self.to.clear();
        self.data.clear();
        response::OK
    }

    fn rcpt(&mut self, _to: &str) -> Response {
        let mut shared = self.shared.lock().unwrap();
        shared.attempts += 1;
        let reply = match shared.script.pop_front() {
            Some((code, text)) => Response::custom(code, text),
            None => response::OK,
        };
        drop(shared);
        self.changed.send_modify(|v| *v += 1);
        reply
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        response::START_DATA
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.shared.lock().unwrap().mails.push(Mail {
            from: self.from.clone(),
            to: self.to.clone(),
            data: String::from_utf8_lossy(&self.data).into_owned(),
        });
        self.changed.send_modify(|v| *v += 1);
        response::OK
    }
}

pub struct TestSmtp {
    pub port: u16,
    shared: Arc<Mutex<Recorded>>,
    changed: Arc<watch::Sender<u64>>,
}

impl TestSmtp {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Recorded::default()));
        let changed = Arc::new(watch::channel(0).0);
        let handler = Recorder {
            shared: shared.clone(),
            changed: changed.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server.with_name("test-smtp").with_tcp_listener(listener);
        // Runs until the test process ends.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self {
            port,
            shared,
            changed,
        }
    }

    /// Settings that point a server here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PRICEALERT_SMTP__HOST".into(), "127.0.0.1".into()),
            ("PRICEALERT_SMTP__PORT".into(), self.port.to_string()),
            ("PRICEALERT_SMTP__SECURITY".into(), "none".into()),
            (
                "PRICEALERT_SMTP__FROM".into(),
                "pricealert <alerts@pricealert.test>".into(),
            ),
            ("PRICEALERT_SMTP__TIMEOUT".into(), "5s".into()),
        ]
    }

    pub fn script(&self, code: u16, text: &str) {
        self.shared
            .lock()
            .unwrap()
            .script
            .push_back((code, text.to_string()));
    }

    pub fn recorded<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.shared.lock().unwrap())
    }

    pub async fn wait_for(&self, what: &str, limit: Duration, ready: impl Fn(&Recorded) -> bool) {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if ready(&self.shared.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for: {what}");
            }
        }
    }
}
