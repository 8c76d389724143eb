//! Effects outlive their causes: despawning a processed cause does not make
//! the next snapshot fail (`CausedBy` drops a dangling link); the effects
//! keep their correlation, and live links survive a restore.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Event(u32);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Outcome(u32);

/// Turns each event into a result caused by it, then consumes the event.
fn process(mut commands: Commands, events: Query<(Entity, &Event)>) {
    for (e, ev) in &events {
        commands.spawn_caused_by(e, Outcome(ev.0 * 10));
        commands.entity(e).despawn();
    }
}

#[test]
fn results_keep_their_correlation_after_their_events_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.redb");
    let app = || {
        App::new()
            .db(&db)
            .component::<Event>("t.event")
            .component::<Outcome>("t.result")
            .systems(process)
    };
    let mut rt = app().open().unwrap();
    let kept = rt.spawn(Event(1));
    let kept_uid = rt.world().get::<Uid>(kept).unwrap().get();
    rt.spawn(Event(2));
    rt.tick().unwrap();
    rt.snapshot_full()
        .expect("a full snapshot despite the dangling links");
    rt.flush().unwrap();
    rt.close().unwrap();

    let mut again = app().open().unwrap();
    let mut rows: Vec<(u32, u64, bool)> = again
        .world_mut()
        .query::<(&Outcome, &CorrelationId, &CausedBy)>()
        .iter(again.world())
        .map(|(r, c, b)| (r.0, c.0, b.0 == Entity::PLACEHOLDER))
        .collect();
    rows.sort_unstable();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].1, kept_uid,
        "the correlation is the root event's uid"
    );
    assert!(
        rows.iter().all(|r| r.2),
        "the consumed events' links became no entity"
    );
}
