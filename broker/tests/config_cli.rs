//! The `karst` binary refuses bad configuration at start, naming the key.

use std::process::Command;

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
    assert!(String::from_utf8_lossy(&output.stderr).contains("KARST_NUM_PARTITONS"));
}
