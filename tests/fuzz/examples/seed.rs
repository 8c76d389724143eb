//! Writes the seed corpora under `seeds/` from real dizzy files (the
//! fixture of `dizzy_tests::hostile`): its snapshot records, its chunks (one
//! seed per chunk, prefixed by the chunk's number), bundles exported from
//! its world, and the file itself, closed cleanly and left behind as a
//! crash leaves it.
//!
//! Run from `tests/fuzz`: `cargo run --example seed`.

use std::path::Path;

use dizzy_tests::hostile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let raw = hostile::fixture();
    let dir = |name: &str| -> std::io::Result<std::path::PathBuf> {
        let d = seeds.join(name);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };

    let meta = dir("meta")?;
    for (id, bytes) in &raw.records {
        std::fs::write(meta.join(format!("record-{id}")), bytes)?;
    }

    let chunk = dir("chunk")?;
    for (i, ((id, column, n), bytes)) in raw.chunks.iter().enumerate() {
        let mut seed = vec![i as u8];
        seed.extend_from_slice(bytes);
        let name = column.replace(['/', '@'], "_");
        std::fs::write(chunk.join(format!("{i:02}-{id}-{name}-{n}")), seed)?;
    }

    let bundle = dir("bundle")?;
    for (i, seed) in hostile::bundle_seeds().iter().enumerate() {
        let kind = if seed[0] & 1 == 1 { "body" } else { "whole" };
        std::fs::write(bundle.join(format!("{i:02}-{kind}")), seed)?;
    }

    let file = dir("file")?;
    let tmp = std::env::temp_dir().join(format!("dizzy-seed-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let clean = tmp.join("clean.redb");
    let mut rt = hostile::app().db(&clean).open()?;
    hostile::populate(&mut rt);
    rt.close()?;
    std::fs::copy(&clean, file.join("clean.redb"))?;

    // Left as SIGKILL leaves it: committed, never closed (needs a repair).
    let unclean = tmp.join("unclean.redb");
    let mut rt = hostile::app().db(&unclean).open()?;
    hostile::populate(&mut rt);
    std::fs::copy(&unclean, file.join("unclean.redb"))?;
    std::mem::forget(rt);

    std::fs::remove_dir_all(&tmp)?;
    println!("seeds written to {}", seeds.display());
    Ok(())
}
