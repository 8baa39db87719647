//! The HAProxy configuration chapter "Scaling out" shows is the one the lab generates: the
//! snapshot in `tests/snapshots/` is compared with `lab-scale haproxy-config --balance cookie`.

#![allow(clippy::unwrap_used)]

use lab_scale::cluster::{Balance, example_config};

/// The chapter's configuration is what the lab writes today.
#[test]
fn the_chapters_configuration_is_the_generated_one() {
    let shown = include_str!("snapshots/haproxy-cookie.cfg");
    assert_eq!(shown, example_config(3, Balance::Cookie));
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_lab-scale"))
        .args(["haproxy-config", "--balance", "cookie"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), shown);
}
