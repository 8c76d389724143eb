//! Moving entities with a bundle: files that reference their folder leave
//! one world and arrive in another. The export selects the files; the
//! folder they reference travels with them (the closure). The target world
//! already uses some of the same uids, so the imported entities get fresh
//! ones, and every reference follows its target to its new uid.
//!
//! ```sh
//! cargo run -p dizzy-examples --bin bundle
//! ```
use dizzy::prelude::*;
use dizzy::{ExportOptions, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize)]
struct Folder(String);

/// A file, and the folder it is in (stored as the folder's uid, restored
/// and imported as the folder's entity).
#[derive(Component, Serialize, Deserialize)]
struct File {
    name: String,
    #[entities]
    folder: Entity,
}

fn app() -> App {
    App::new()
        .in_memory()
        .component::<Folder>("fs.folder")
        .component::<File>("fs.file")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut source = app().open()?;
    let photos = source.spawn(Folder("photos".into()));
    for name in ["a.jpg", "b.jpg"] {
        source.spawn(File {
            name: name.into(),
            folder: photos,
        });
    }
    let bundle = source.export(
        &Selection::With("fs.file".into()),
        &ExportOptions::default(),
    )?;
    println!(
        "exported {} entities ({} bytes)",
        bundle.entities,
        bundle.bytes.len()
    );

    // The target already has entities (and so uses the same first uids).
    let mut target = app().open()?;
    target.spawn(Folder("music".into()));
    target.spawn(Folder("videos".into()));
    let uids = target.import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)?;
    for (old, new) in &uids {
        println!("uid {old} -> {new}");
    }

    let world = target.world_mut();
    let mut files = world.query::<&File>();
    let mut names: Vec<String> = files
        .iter(world)
        .map(|f| {
            let folder = world.get::<Folder>(f.folder).map_or("?", |d| d.0.as_str());
            format!("{folder}/{}", f.name)
        })
        .collect();
    names.sort();
    println!("in the target: {}", names.join(", "));
    Ok(())
}
