//! The explorer answers hostile requests — bad ids, huge page sizes, path
//! tricks, other methods, absurd URLs — with 4xx pages and one-line
//! messages, never a crash; no request changes the file; it refuses to
//! listen beyond loopback unless told; and a file written by another
//! program (types this build lacks) opens, its values decoded from the
//! shapes the file records.

use std::process::Command;

use dizzy::prelude::*;
use dizzy_tests::browser::{Served, get, raw_response, raw_status};
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
    // Addresses the framework cannot read, and parameters a page does not
    // take, get the explorer's own page naming the problem (never the
    // framework's text naming route variables, never a silently dropped
    // parameter).
    for (path, names) in [
        ("/snapshots/%FF%FE", "not UTF-8"),
        ("/snapshots/latest/components/%FF", "not UTF-8"),
        ("/snapshots/latest/entities/%C3%28", "not UTF-8"),
        (
            "/snapshots/latest/components/dedupe.file?limit=5",
            "`limit`",
        ),
        (
            "/snapshots/latest/components/dedupe.file?offset=-1",
            "`offset`",
        ),
        ("/snapshots/latest?page=2", "`page`"),
        ("/snapshots/latest/schedule?x=1", "`x`"),
        ("/?size=5", "`size`"),
        ("/diff?from=1", "`from`"),
    ] {
        let (status, body) = get(&base, path);
        assert_eq!(status, 400, "GET {path}: {body}");
        assert!(body.contains("id=\"error\""), "GET {path}: an error page");
        assert!(body.contains(names), "GET {path} names {names}: {body}");
        assert!(!body.contains("`at`"), "GET {path}: names a route variable");
    }
    // Other methods: 405 with the explorer's page and the `Allow` header.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let (status, body) = raw_response(
            &addr,
            format!(
                "{method} / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(status, 405, "{method} /");
        assert!(body.contains("only reads"), "{method} /: {body}");
    }
    // A request for another name (DNS rebinding: a site resolving its own
    // name to 127.0.0.1) gets a 421 page, not the file.
    let (status, body) = raw_response(
        &addr,
        b"GET / HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 421, "{body}");
    assert!(
        body.contains("evil.example") && !body.contains("dedupe"),
        "{body}"
    );
    let (status, _) = raw_response(
        &addr,
        format!(
            "GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            addr.rsplit(':').next().unwrap()
        )
        .as_bytes(),
    );
    assert_eq!(status, 200, "localhost is the explorer's own name");

    // A value filter without a field looks in every field.
    let (status, all) = get(&base, "/snapshots/latest/components/dedupe.file");
    assert_eq!(status, 200);
    let (status, some) = get(
        &base,
        "/snapshots/latest/components/dedupe.file?value=zzz-in-no-path",
    );
    assert_eq!(status, 200);
    assert!(
        some.matches("<tr").count() < all.matches("<tr").count(),
        "a value without a field filters the rows"
    );

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

/// `dizzy serve` run to its end (or killed after 20 s: it was serving).
fn serve_until_it_ends(args: &[&str]) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut child = dizzy()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, out, err)
}

#[test]
fn files_and_snapshots_serve_cannot_show_are_refused_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    dizzy_tests::dizzy_ok(&[
        "demo",
        "particles",
        "--entities",
        "20000",
        "--ticks",
        "40",
        "--db",
        db.to_str().unwrap(),
    ]);
    let path = db.to_str().unwrap();
    // A snapshot the file does not hold is refused like `latest~N` is,
    // rather than printed as an address that opens to a 404.
    for at in ["99999", "latest~99999"] {
        let (code, out, err) = serve_until_it_ends(&[
            "serve",
            "--db",
            path,
            "--addr",
            "127.0.0.1:0",
            "--snapshot",
            at,
        ]);
        assert_eq!(code, Some(1), "--snapshot {at}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("no snapshot"), "{err}");
        assert!(!out.contains("explorer at"), "{out}");
    }
    // Damaged copies: a file whose snapshot records `dizzy snapshots`
    // cannot read is refused by `serve` too, with the same one line, not
    // served as pages that all fail.
    let bytes = std::fs::read(&db).unwrap();
    let mut refused = 0;
    for (first, step) in [
        (65_536, 262_144),
        (4096, 262_144),
        (200_000, 131_072),
        (8192, 65_536),
    ] {
        let mut damaged = bytes.clone();
        let mut at = first;
        while at + 8 < damaged.len() {
            damaged[at..at + 8].copy_from_slice(b"\xde\xad\xbe\xef\x00\xff\x7f\x80");
            at += step;
        }
        let copy = dir.path().join(format!("damaged-{first}-{step}.redb"));
        std::fs::write(&copy, &damaged).unwrap();
        let copy = copy.to_str().unwrap();
        let listed = dizzy().args(["snapshots", "--db", copy]).output().unwrap();
        if listed.status.success() {
            continue;
        }
        refused += 1;
        let (code, out, err) =
            serve_until_it_ends(&["serve", "--db", copy, "--addr", "127.0.0.1:0"]);
        assert_eq!(code, Some(1), "{copy}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(copy), "{err}");
        assert!(!out.contains("explorer at"), "{out}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        refused > 0,
        "no damaged copy was refused by `dizzy snapshots`"
    );
}
