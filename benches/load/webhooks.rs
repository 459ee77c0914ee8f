//! The webhook scenario: what three subscriptions add to `POST /v1/responses` (nothing
//! measurable is the goal: delivery is asynchronous), and how fast the dispatcher delivers to a
//! local receiver that acknowledges at once.

use super::client::{Measured, Setup, saturate};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Log {
    /// (path, webhook-id): each subscription has its own path, and an event's id is the same
    /// for every subscription it goes to.
    ids: HashSet<(String, String)>,
    deliveries: usize,
    lags_ms: Vec<f64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// A keep-alive HTTP receiver that answers 200 to everything and logs each delivery.
async fn receiver() -> (String, Arc<Mutex<Log>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let (mut length, mut id) = (0usize, String::new());
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.trim().to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "webhook-id" => id = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let sent: Option<chrono::DateTime<chrono::Utc>> = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|b| b["timestamp"].as_str().and_then(|t| t.parse().ok()));
                    {
                        let mut log = log.lock().unwrap();
                        let now = Instant::now();
                        log.first.get_or_insert(now);
                        log.last = Some(now);
                        log.deliveries += 1;
                        log.ids.insert((path, id));
                        if let Some(sent) = sent {
                            log.lags_ms
                                .push((chrono::Utc::now() - sent).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                        }
                    }
                    if write.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, log)
}

pub async fn run(setup: &Setup, duration: Duration) -> Vec<(String, Measured, Option<(String, f64)>)> {
    let without = saturate(16, duration, |n| setup.submit_srs(n + 20_000_000)).await;
    // The outbox alone: three subscriptions whose receiver is down, so the dispatcher only
    // tries each queue's head now and then (back-off) while the events are written.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut down = Vec::new();
    for n in 0..3 {
        let body = json!({"url": format!("http://{closed}/{n}"), "event_types": ["response.created"]});
        down.push(setup.post("/v1/webhooks", body).await["id"].as_str().unwrap().to_owned());
    }
    let outbox_only = saturate(16, duration, |n| setup.submit_srs(n + 40_000_000)).await;
    for id in &down {
        assert!(setup.delete(&format!("/v1/webhooks/{id}")).await, "unsubscribed");
    }
    let (url, log) = receiver().await;
    for n in 0..3 {
        let body = json!({"url": format!("{url}/{n}"), "event_types": ["response.created"]});
        let hook = setup.post("/v1/webhooks", body).await;
        assert!(hook["id"].is_string(), "subscribed: {hook}");
    }
    let with = saturate(16, duration, |n| setup.submit_srs(n + 30_000_000)).await;
    // Let the dispatcher finish: until nothing has arrived for three seconds (at most 5 min).
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = log.lock().unwrap().deliveries;
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let log = log.lock().unwrap();
    let span = match (log.first, log.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64().max(0.001),
        _ => 1.0,
    };
    let mut lags = log.lags_ms.clone();
    lags.sort_by(f64::total_cmp);
    let at =
        |p: f64| lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let duplicates = log.deliveries - log.ids.len();
    let delivered = Measured {
        requests: log.deliveries,
        errors: duplicates,
        rate: log.deliveries as f64 / span,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        cpu: None,
    };
    vec![
        (
            "webhooks: POST /v1/responses, 3 subs, receiver down".into(),
            outbox_only,
            Some(("req/s with none".into(), without.rate)),
        ),
        ("webhooks: POST /v1/responses, 3 subscriptions".into(), with, Some(("req/s with none".into(), without.rate))),
        (format!("webhooks: events delivered (lag ms; {} dup.)", duplicates), delivered, None),
    ]
}
