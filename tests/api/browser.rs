//! In a real browser: headless Chromium renders a chart through its chart link, and the
//! supervision report under its own Content-Security-Policy, to PNG and to its DOM; the tests
//! check what a person would see. `.ci/run` installs Debian's `chromium`; elsewhere set
//! `RAPPORT_CHROMIUM` to a Chrome or Chromium binary.

use crate::charts::{REPORT_HEADINGS, audit_events, charted_episode, svg};
use crate::fixtures::Care;
use crate::harness::spawn_app;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("RAPPORT_CHROMIUM") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the browser tests need Chromium: `apt-get install chromium` on Debian (`.ci/run` does), or set \
         RAPPORT_CHROMIUM to a Chrome or Chromium binary"
    );
}

/// Runs headless Chromium with `args` and returns its standard output; fails after 90 s.
fn run_chromium(args: &[String]) -> String {
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, so a hung browser goes with all its helpers.
        .process_group(0)
        .spawn()
        .expect("Chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait for Chromium") {
            assert!(status.success(), "Chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: signals the group this test started.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("Chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("the output reader")
}

struct Screenshot {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
}

impl Screenshot {
    fn take(url: &str, window: (u32, u32)) -> Screenshot {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shot.png");
        run_chromium(&[
            format!("--window-size={},{}", window.0, window.1),
            format!("--screenshot={}", file.display()),
            url.to_owned(),
        ]);
        // To look at them: RAPPORT_KEEP_SCREENSHOTS=<dir>.
        if let Some(keep) = std::env::var_os("RAPPORT_KEEP_SCREENSHOTS") {
            let name = url.split('?').next().unwrap_or(url).replace(['/', ':'], "_");
            let _ = std::fs::copy(&file, PathBuf::from(keep).join(format!("{name}.png")));
        }
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&file).expect("a screenshot")));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buffer).unwrap();
        let channels = info.color_type.samples();
        let rgba = buffer[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|p| [p[0], p[1], p[2], if channels == 4 { p[3] } else { 255 }])
            .collect();
        Screenshot { width: info.width as usize, height: info.height as usize, rgba }
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    /// Pixels within `tolerance` of `colour` in rows `rows`.
    fn count(&self, colour: [u8; 3], rows: std::ops::RangeInclusive<usize>, tolerance: i32) -> usize {
        rows.filter(|y| *y < self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = self.pixel(x, y);
                (0..3).all(|c| (i32::from(p[c]) - i32::from(colour[c])).abs() <= tolerance)
            })
            .count()
    }

    fn non_white_share(&self) -> f64 {
        let inked = (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.pixel(x, y).iter().any(|c| *c < 235))
            .count();
        inked as f64 / (self.width * self.height) as f64
    }
}

const CUTOFF_COLOUR: [u8; 3] = [0xCC, 0x79, 0xA7];
const CLIENT_COLOUR: [u8; 3] = [0x00, 0x72, 0xB2];

#[tokio::test]
async fn a_chart_link_renders_the_chart_a_person_expects_in_chromium() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Browser Clinic").await;
    charted_episode(&app, &care).await;
    let link: Value = app
        .post_json_as(&care.clinician.token, &format!("/v1/episodes/{}/chart-links", care.episode_id), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = link["alliance_url"].as_str().unwrap().to_owned();
    let (_, chart) = svg(app.client.get(&url).send().await.unwrap()).await;
    let document = roxmltree::Document::parse(&chart).unwrap();
    let cutoff_y: f64 = document
        .descendants()
        .find(|n| n.attribute("class") == Some("cutoff"))
        .unwrap()
        .attribute("y1")
        .unwrap()
        .parse()
        .unwrap();
    let first = document.descendants().find(|n| n.attribute("class") == Some("point")).unwrap();
    let (cx, cy): (f64, f64) =
        (first.attribute("cx").unwrap().parse().unwrap(), first.attribute("cy").unwrap().parse().unwrap());
    // The chart is drawn at twice its SVG units: 720 px wide.
    let shot = tokio::task::spawn_blocking(move || Screenshot::take(&url, (720, 900))).await.unwrap();
    assert!(shot.non_white_share() > 0.02, "the chart is not blank");
    let row = (cutoff_y * 2.0).round() as usize;
    let cutoff_pixels = shot.count(CUTOFF_COLOUR, row - 2..=row + 2, 40);
    assert!(cutoff_pixels > 300, "the cutoff line's colour at its height ({row} px): {cutoff_pixels} pixels");
    let elsewhere = shot.count(CUTOFF_COLOUR, row + 40..=row + 60, 40);
    assert!(elsewhere < 20, "and not elsewhere: {elsewhere}");
    let (x, y) = ((cx * 2.0).round() as usize, (cy * 2.0).round() as usize);
    let near_first: usize = shot.count(CLIENT_COLOUR, y - 3..=y + 3, 40);
    assert!(
        near_first > 0
            && shot.pixel(x, y).iter().zip(CLIENT_COLOUR).all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() < 60),
        "the first rating's marker"
    );
    // The browser's view is audited as the link maker's.
    let events = audit_events(&app, &care.admin.token, &care.episode_id, "episode.chart.alliance.view").await;
    assert!(events.len() >= 2, "the test's fetch and the browser's: {events:?}");
}

/// Serves `body` at every path with `headers`, as the service sent them: the browser must meet the
/// report's own Content-Security-Policy, which a `file://` page would not have.
fn replay(body: String, headers: Vec<(String, String)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (name, value) in &headers {
                answer.push_str(&format!("{name}: {value}\r\n"));
            }
            answer.push_str("\r\n");
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    format!("http://{address}/report")
}

#[tokio::test]
async fn the_supervision_report_renders_under_its_policy_in_chromium() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Browser Report Clinic").await;
    charted_episode(&app, &care).await;
    let response = app.get_as(&care.supervisor.token, &format!("/v1/clinicians/{}/report", care.clinician.id)).await;
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let page = response.text().await.unwrap();
    let served = |policy: &str| {
        let headers = vec![
            ("Content-Type".to_owned(), "text/html; charset=utf-8".to_owned()),
            ("Content-Security-Policy".to_owned(), policy.to_owned()),
        ];
        replay(page.clone(), headers)
    };
    let url = served(&policy);
    let blocked = served("default-src 'none'; style-src 'none'");
    let (dom, shot, unstyled) = tokio::task::spawn_blocking(move || {
        let dom = run_chromium(&["--dump-dom".to_owned(), url.clone()]);
        (dom, Screenshot::take(&url, (1000, 1400)), Screenshot::take(&blocked, (1000, 1400)))
    })
    .await
    .unwrap();
    for heading in REPORT_HEADINGS {
        assert!(dom.contains(heading), "{heading} in the rendered DOM");
    }
    assert_eq!(dom.matches("<svg ").count(), 2, "the small multiples are in the DOM");
    assert!(shot.non_white_share() > 0.02, "the report is not blank");
    // One client is too few for reliable figures: the caution box, whose background only the
    // page's own style sheet paints. The policy lets it through (by hash); a policy without
    // the hash does not, which shows the check can fail.
    const CAUTION: [u8; 3] = [0xFF, 0xF8, 0xE6];
    let painted = shot.count(CAUTION, 0..=shot.height - 1, 2);
    assert!(painted > 2_000, "the style sheet applies under the policy: {painted} caution pixels");
    assert_eq!(unstyled.count(CAUTION, 0..=unstyled.height - 1, 2), 0, "a policy without the hash blocks it");
}
