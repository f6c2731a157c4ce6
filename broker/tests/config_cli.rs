//! The `karst` binary refuses bad configuration at start, naming the key,
//! and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn karst() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_karst"));
    command.env_remove("KARST_LOG_FORMAT");
    command
}

#[test]
fn a_bad_properties_file_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(&file, "node.id=1\nlog.segment.bytes=lots\n").unwrap();
    let output = karst().arg("--config").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("log.segment.bytes"), "{stderr}");
    assert!(stderr.contains("lots"), "{stderr}");
}

#[test]
fn an_unknown_setting_or_variable_is_refused() {
    let output = karst()
        .args(["--override", "num.partitons=3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("num.partitons"));

    let output = karst().env("KARST_NUM_PARTITONS", "3").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KARST_NUM_PARTITONS"), "{stderr}");
    assert!(
        stderr.contains("did you mean KARST_NUM_PARTITIONS?"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_environment_value_names_the_key_and_a_missing_file_its_path() {
    let output = karst()
        .env("KARST_LOG_SEGMENT_BYTES", "10")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value \"10\" for log.segment.bytes: expected an integer >= 14"),
        "{stderr}"
    );

    let output = karst()
        .args(["--config", "/nonexistent/server.properties"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/server.properties"));

    let output = karst()
        .args(["--override", "no-equals-sign"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// Reads the JSON log on stderr until the start line, then returns the
/// HTTP address it reports; the rest of stderr keeps flowing to `rest`.
fn wait_for_start(stderr: impl Read + Send + 'static) -> (String, mpsc::Receiver<String>) {
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the broker logs its start within a minute");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["fields"]["message"] == "karst broker started" {
            let http = event["fields"]["http"].as_str().unwrap().to_owned();
            return (http, lines);
        }
    }
}

fn http_status(addr: &str, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: karst\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response[9..12].parse().unwrap()
}

#[test]
fn sigterm_stops_the_broker_cleanly_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = karst()
        .args(["--log-format", "json"])
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", "karst.http.listener=127.0.0.1:0"])
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().display()))
        .env("KARST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (http, lines) = wait_for_start(child.stderr.take().unwrap());
    assert_eq!(http_status(&http, "/readyz"), 200);
    assert_eq!(http_status(&http, "/healthz"), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    // The child has exited, so its stderr reaches EOF and the reader stops.
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(status.code(), Some(0), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("SIGTERM")),
        "the shutdown is logged: {rest:#?}"
    );
}
