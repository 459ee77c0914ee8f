//! Graceful shutdown: a request in flight when the stop arrives is still answered.

use crate::harness::spawn_app_with;
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn a_request_in_flight_at_shutdown_is_answered_and_new_connections_are_refused() {
    let app = spawn_app_with(&[("RAPPORT_SHUTDOWN_TIMEOUT_SECS", "10")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let body = "grant_type=password&username=a%40b.example&password=something-long";
    let (head, tail) = body.split_at(20);
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // `Expect: 100-continue` makes the server say when it holds the request: then it is in flight.
    write!(
        stream,
        "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    let mut stream = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("the server acknowledges the request");
            seen.push(byte[0]);
        }
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 100"), "{}", String::from_utf8_lossy(&seen));
        stream
    })
    .await
    .unwrap();
    stream.write_all(head.as_bytes()).unwrap();

    // What SIGTERM does: stop accepting, let in-flight requests finish.
    let stopper = app.stopper.clone();
    let stopping = tokio::spawn(async move { stopper.stop().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(tail.as_bytes()).unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map(|_| answer)
    })
    .await
    .unwrap()
    .expect("the in-flight request gets an answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_grant"), "{answer}");
    stopping.await.unwrap();
    assert!(std::net::TcpStream::connect(&address).is_err(), "new connections are refused after shutdown");
}

#[tokio::test]
async fn under_load_on_two_workers_every_request_in_flight_gets_an_answer_and_a_stalled_upload_a_503() {
    let app = spawn_app_with(&[("RAPPORT_SHUTDOWN_TIMEOUT_SECS", "1"), ("RAPPORT_HTTP_WORKERS", "2")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A half-sent upload: headers and part of the body, then nothing.
    let mut stalled = std::net::TcpStream::connect(&address).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stalled,
        "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"grant_type\":"
    )
    .unwrap();
    // Password grants cost an Argon2 hash each: several are in flight when the stop comes.
    let requests: Vec<_> = (0..16)
        .map(|n| {
            let client = reqwest::Client::new();
            let url = app.url("/v1/auth/token");
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&[
                        ("grant_type", "password"),
                        ("username", &format!("u{n}@x.example")),
                        ("password", "long enough"),
                    ])
                    .send()
                    .await
                    .map(|response| response.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    app.stopper.stop().await;
    let mut answered = 0;
    for request in requests {
        // Sent before the stop: answered. Sent after: refused at connect (never half-served).
        match request.await.unwrap() {
            Ok(status) => {
                assert!([400, 503].contains(&status), "status {status}");
                answered += 1;
            }
            Err(error) => assert!(error.is_connect(), "a request was cut off: {error:?}"),
        }
    }
    assert!(answered > 0, "some requests were in flight");
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("shutting_down") && answer.to_lowercase().contains("retry-after"), "{answer}");
}

#[tokio::test]
async fn clients_that_keep_retrying_through_the_stop_are_answered_or_refused_never_cut_off() {
    let app = spawn_app_with(&[("RAPPORT_SHUTDOWN_TIMEOUT_SECS", "2"), ("RAPPORT_HTTP_WORKERS", "2")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Each client connects anew for every request, as a retrying client does, without pause.
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (address, running) = (address.clone(), running.clone());
            std::thread::spawn(move || {
                let (mut answered, mut refused, mut cut_off) = (0, 0, Vec::new());
                while running.load(std::sync::atomic::Ordering::Acquire) {
                    let Ok(mut stream) =
                        std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_millis(500))
                    else {
                        refused += 1;
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let sent = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    let mut answer = String::new();
                    match (sent, stream.read_to_string(&mut answer)) {
                        (Ok(()), Ok(_)) if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 503") => {
                            answered += 1
                        }
                        (sent, read) => cut_off.push(format!("{sent:?} {read:?} {answer:?}")),
                    }
                }
                (answered, refused, cut_off)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.stopper.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.store(false, std::sync::atomic::Ordering::Release);
    let (mut answered, mut refused) = (0, 0);
    for client in clients {
        let (a, r, cut_off) = client.join().unwrap();
        assert!(cut_off.is_empty(), "requests cut off: {cut_off:?}");
        answered += a;
        refused += r;
    }
    assert!(answered > 0 && refused > 0, "answered {answered}, refused {refused}");
}
