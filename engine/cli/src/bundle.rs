//! `dizzy export` and `dizzy import`: moving entities between worlds.
//!
//! `export` carries components this build does not register too, byte for
//! byte with the schema the file recorded (as `show` decodes them from
//! it); `import` decodes them where the app registers them, and otherwise
//! refuses, drops or keeps them (`--unknown`, by default the app's policy).

use std::path::PathBuf;

use dizzy_components::RefPolicy;
use dizzy_snapshots::{
    ExportOptions, ImportOptions, OnConflict, RestoreOptions, Selection, SnapshotRef, Unknown,
};

use dizzy::App;
use dizzy::SnapshotPolicy;

use crate::CliError;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["uid", "with", "correlation"])))]
pub(crate) struct ExportArgs {
    /// The dizzy file to export from (or a bucket URL of replicated snapshots).
    #[arg(long)]
    db: PathBuf,
    /// Export the world at this snapshot (default: the latest).
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
    /// Entities to export, by uid (repeat the flag for several).
    #[arg(long)]
    uid: Vec<u64>,
    /// Export every entity with this component (stable name).
    #[arg(long)]
    with: Option<String>,
    /// Export every entity of this correlation id.
    #[arg(long)]
    correlation: Option<u64>,
    /// Do not carry the entities the selection references; references that
    /// leave the selection are an error, or dropped with --drop-dangling.
    #[arg(long)]
    no_closure: bool,
    /// With --no-closure: drop references that leave the selection.
    #[arg(long)]
    drop_dangling: bool,
    /// The bundle file to write, or an object URL (`s3://BUCKET/KEY`,
    /// `file:///DIR/NAME`).
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The dizzy file to import into (created if missing); the import
    /// becomes a new snapshot.
    #[arg(long)]
    db: PathBuf,
    /// The bundle file, or an object URL (`s3://BUCKET/KEY`).
    bundle: PathBuf,
    /// What to do with a uid the file already has: remap (a fresh uid),
    /// skip (keep the file's entity), replace (overwrite its components)
    /// or fail.
    #[arg(long, default_value = "remap")]
    on_conflict: OnConflict,
    /// Components of the bundle (or the file) this build does not
    /// register: fail, skip them, or keep them byte for byte (default: the
    /// app's policy; the `dizzy` binary keeps them).
    #[arg(long, value_enum)]
    unknown: Option<UnknownArg>,
}

/// `--unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum UnknownArg {
    /// Refuse the bundle.
    Fail,
    /// Leave those components out.
    Skip,
    /// Keep their values byte for byte, in every later snapshot.
    Keep,
}

impl From<UnknownArg> for Unknown {
    fn from(a: UnknownArg) -> Unknown {
        match a {
            UnknownArg::Fail => Unknown::Fail,
            UnknownArg::Skip => Unknown::Skip,
            UnknownArg::Keep => Unknown::Keep,
        }
    }
}

pub(crate) fn export(app: App, args: ExportArgs) -> Result<(), CliError> {
    let parts = app.try_parts()?;
    let registry = &parts.registry;
    if !crate::remote::is_url(&args.out) {
        crate::output::refuse_database(&args.out, &args.db)?;
    }
    let store = crate::remote::open(&args.db, args.snapshot.as_slice(), false)?;
    // Components this build does not register are kept (as the file
    // recorded them) and carried like the others.
    let options = RestoreOptions {
        snapshot: crate::view::snapshot_id(&store, args.snapshot)?,
        unknown: Unknown::Keep,
        ..Default::default()
    };
    // The app's hooks run as the world comes back: its transient
    // resources are there first, as when the app opens the file.
    let restored = dizzy_snapshots::restore_with(&store, registry, &options, &mut |world| {
        for t in &parts.transients {
            t.insert(world);
        }
    })?;
    // A build of older code than the file's read its values without their
    // newer fields: a bundle of them would lack those (as `Runtime::export`
    // of a tool refuses).
    if let Some((component, fields)) = dizzy_snapshots::fields_not_read(&restored.chain, registry) {
        return Err(dizzy_snapshots::ExportError::FieldsNotRead {
            component,
            fields: fields.join("`, `"),
        }
        .into());
    }
    let selection = match (args.with, args.correlation) {
        (Some(name), _) => Selection::With(name),
        (None, Some(c)) => Selection::Correlation(c),
        (None, None) => Selection::Uids(args.uid),
    };
    let exported = dizzy_snapshots::export(
        &restored.world,
        registry,
        &selection,
        &ExportOptions {
            closure: !args.no_closure,
            refs: if args.drop_dangling {
                RefPolicy::Drop
            } else {
                RefPolicy::Fail
            },
            source: format!("{} snapshot {}", args.db.display(), restored.meta.id),
        },
    )?;
    // Written whole: a reader never sees half a bundle (a file is written
    // beside the target and renamed; an object is one PUT).
    let size = exported.bytes.len();
    crate::remote::write(&args.out, exported.bytes)?;
    outln!(
        "{}",
        serde_json::json!({
            "bundle": args.out.display().to_string(),
            "snapshot": restored.meta.id,
            "entities": exported.entities,
            "components": exported.components,
            "bytes": size,
        })
    );
    Ok(())
}

pub(crate) fn import(app: App, args: ImportArgs) -> Result<(), CliError> {
    let unknown = args.unknown.map_or(app.unknown_policy(), Unknown::from);
    let app = app.unknown_components(unknown);
    if crate::remote::is_url(&args.db) {
        return Err(CliError::new(format!(
            "{}: --db must be a local file (an import is a new snapshot of it; a replicating app ships it)",
            args.db.display()
        )));
    }
    let bytes = crate::remote::read(&args.bundle)?;
    let named =
        |e: dizzy_snapshots::ImportError| CliError::new(format!("{}: {e}", args.bundle.display()));
    // Check the whole bundle first (no world, no user code): a bad bundle
    // is refused before the file is even opened.
    let options = ImportOptions {
        on_conflict: OnConflict::Remap,
        refs: RefPolicy::Fail,
        unknown,
    };
    dizzy_snapshots::check_import(app.registry(), &bytes, &options).map_err(named)?;
    // As a tool: the import is a snapshot of the file's program, not of
    // this binary (its resources and its code stay out of the file).
    let mut rt = app
        .db(&args.db)
        .as_tool()
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()?;
    let live = |rt: &dizzy::Runtime| rt.world().resource::<dizzy::Uids>().len();
    let before = live(&rt);
    let map = rt
        .import(&bytes, args.on_conflict, RefPolicy::Fail)
        .map_err(named)?;
    // The map names every entity of the bundle; under `skip` those whose
    // uid the file already had are left as they were (nothing written).
    let imported = match args.on_conflict {
        OnConflict::Skip => live(&rt).saturating_sub(before),
        _ => map.len(),
    };
    // An import that wrote nothing adds no snapshot.
    let snapshot = if imported > 0 { rt.snapshot()? } else { None };
    rt.close()?;
    // Written as it goes: a map of millions of uids is not first built as
    // a JSON value (that took more memory than the import itself).
    let mut line = format!(
        "{{\"db\":{},\"imported\":{},\"skipped\":{},\"uids\":{{",
        serde_json::Value::from(args.db.display().to_string()),
        imported,
        map.len() - imported
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        for (i, (old, new)) in map.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&format!("\"{old}\":{new}"));
            if line.len() >= 1 << 16 {
                out.write_all(line.as_bytes())?;
                line.clear();
            }
        }
        line.push_str(&format!(
            "}},\"snapshot\":{}}}\n",
            serde_json::Value::from(snapshot)
        ));
        out.write_all(line.as_bytes())?;
        out.flush()
    })();
    crate::view::finish(&mut out, written)
}
