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
    let stopping = app.handle.stop(true);
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
    stopping.await;
    assert!(std::net::TcpStream::connect(&address).is_err(), "new connections are refused after shutdown");
}
