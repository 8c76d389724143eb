//! A migration: a component whose Rust type changed meaning (feet became
//! metres) gets a new schema version and a plain function from the old type
//! to the new one. An "old build" writes peaks at version 1; the "new
//! build" registers version 2 with the migration and reads the old file,
//! each value converted once, on restore.
//!
//! ```sh
//! cargo run -p dizzy-examples --bin migration              # peaks.redb here
//! cargo run -p dizzy-examples --bin migration -- /tmp/peaks.redb
//! ```
use dizzy::prelude::*;

/// Version 1: heights in feet.
#[derive(Component, Serialize, Deserialize)]
struct PeakV1 {
    name: String,
    height_ft: i32,
}

/// Version 2: heights in metres. (A field that was only reordered, removed
/// or added with a default would need no version: values are matched by
/// field name. A change of meaning needs one.)
#[derive(Component, Serialize, Deserialize, Debug)]
struct Peak {
    name: String,
    height_m: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "peaks.redb".into());
    let _ = std::fs::remove_file(&path);

    // The old build.
    let mut old = App::new()
        .db(&path)
        .component::<PeakV1>("geo.peak")
        .open()?;
    old.spawn(PeakV1 {
        name: "Mont Blanc".into(),
        height_ft: 15_774,
    });
    old.spawn(PeakV1 {
        name: "Matterhorn".into(),
        height_ft: 14_692,
    });
    old.close()?;

    // The new build: version 2, and how to get there from version 1.
    let mut new = App::new()
        .db(&path)
        .component_version::<Peak>("geo.peak", 2)
        .migration::<PeakV1, Peak>("geo.peak", 1, |p| Peak {
            name: p.name,
            height_m: (f64::from(p.height_ft) * 0.3048).round(),
        })
        .open()?;
    let mut peaks: Vec<(String, f64)> = new
        .world_mut()
        .query::<&Peak>()
        .iter(new.world())
        .map(|p| (p.name.clone(), p.height_m))
        .collect();
    peaks.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, m) in peaks {
        println!("{name}: {m} m");
    }
    Ok(())
}
