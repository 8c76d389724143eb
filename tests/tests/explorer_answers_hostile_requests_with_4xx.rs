//! The explorer answers hostile requests — bad ids, huge page sizes, path
//! tricks, other methods, absurd URLs — with 4xx pages and one-line
//! messages, never a crash; no request changes the file; it refuses to
//! listen beyond loopback unless told; and a file written by another
//! program (types this build lacks) opens, its values decoded from the
//! shapes the file records.

use std::process::Command;

use dizzy::prelude::*;
use dizzy_tests::browser::{Served, get, raw_status};
use dizzy_tests::{dizzy, dizzy_bin, file_bytes, make_tree};

fn serve(db: &std::path::Path) -> Served {
    let mut c = Command::new(dizzy_bin());
    c.args([
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ]);
    Served::start(c)
}

#[test]
fn hostile_requests_get_4xx_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 40, 500, 3);
    let db = dir.path().join("d.redb");
    dizzy_tests::dizzy_ok(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let before = file_bytes(&db);
    let served = serve(&db);
    let base = served.url.clone();
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let expect = |path: &str, status: u16| {
        let (got, body) = get(&base, path);
        assert_eq!(got, status, "GET {path}: {}", &body[..body.len().min(400)]);
        if status >= 400 {
            assert!(body.contains("id=\"error\""), "GET {path}: an error page");
        }
    };
    expect("/", 200);
    expect("/snapshots/latest", 200);
    expect("/snapshots/999999", 404);
    expect("/snapshots/latest~999999", 404);
    expect("/snapshots/latest~99999999999999999999999", 400);
    expect("/snapshots/-1", 400);
    expect("/snapshots/abc/components/dedupe.file", 400);
    expect("/snapshots/latest/components/no.such", 404);
    expect(
        "/snapshots/latest/components/dedupe.file?size=100000000",
        400,
    );
    expect("/snapshots/latest/components/dedupe.file?size=0", 400);
    expect(
        "/snapshots/latest/components/dedupe.file?page=99999999999",
        400,
    );
    expect("/snapshots/latest/components/dedupe.file?page=-3", 400);
    expect(
        "/snapshots/latest/components/dedupe.file?sort=%3Cscript%3E",
        400,
    );
    expect("/snapshots/latest/components/dedupe.file?uid=x", 400);
    expect(
        "/snapshots/latest/components/dedupe.file?field=nope&value=1",
        400,
    );
    let long = "x".repeat(5000);
    expect(
        &format!("/snapshots/latest/components/dedupe.file?value={long}"),
        400,
    );
    expect("/snapshots/latest/entities/18446744073709551616", 400);
    expect("/snapshots/latest/entities/999999", 404);
    expect("/snapshots/latest/entities/2?whole=7", 400);
    expect("/diff?a=1&b=nope", 400);
    expect("/diff?limit=999999999", 400);
    expect("/assets/style.css", 200);
    expect("/assets/..%2F..%2F..%2Fetc%2Fpasswd", 404);
    expect("/assets/%2e%2e/Cargo.toml", 404);
    expect("/no/such/page", 404);

    // What a browser would not send.
    for request in [
        "GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
            .to_owned(),
        "DELETE /snapshots/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(200_000)
        ),
        // Headers beyond hyper's buffer (about 400 kB): memory per request
        // stays bounded.
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_owned() + &"b".repeat(1_000_000) + "\r\n\r\n",
        "NONSENSE\r\n\r\n".to_owned(),
    ] {
        let status = raw_status(&addr, request.as_bytes());
        let line: String = request.chars().take(40).collect();
        assert!(
            (400..500).contains(&status),
            "{line:?}: status {status}, not a 4xx"
        );
    }

    // Still serving, and nothing changed the file.
    expect("/", 200);
    drop(served);
    assert_eq!(file_bytes(&db), before, "the file changed");
}

#[test]
fn only_loopback_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    App::new().db(&db).open().unwrap().close().unwrap();
    let out = dizzy()
        .args(["serve", "--db", db.to_str().unwrap(), "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not a loopback address") && err.contains("--allow-remote"),
        "{err}"
    );
}

/// A type the `dizzy` binary does not have.
#[derive(Component, Serialize, Deserialize)]
struct Sample {
    station: String,
    reading: f64,
    flags: Vec<u8>,
}

#[test]
fn a_file_of_another_program_opens_with_its_recorded_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<Sample>("lab.sample")
        .open()
        .unwrap();
    for i in 0..30 {
        rt.spawn(Sample {
            station: format!("station-{i:02}"),
            reading: f64::from(i) * 0.5,
            flags: vec![i as u8, 7],
        });
    }
    rt.close().unwrap();
    let served = serve(&db);
    let (status, body) = get(
        &served.url,
        "/snapshots/latest/components/lab.sample?field=station&value=station-07",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("30 entities have it, 1 match the filter"),
        "{body}"
    );
    assert!(body.contains("&quot;station-07&quot;"), "{body}");
    assert!(body.contains("[7,7]"), "{body}");
    assert!(body.contains(">3.5<"), "{body}");
    assert!(!body.contains("not decodable"), "{body}");
}
