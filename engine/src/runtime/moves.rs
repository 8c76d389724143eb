//! Systems and observers moved to another module (or whose module or
//! crate was renamed) keep their last runs across a resume, as the code
//! change report follows them (`dizzy_systems::describe`): a name the
//! change-detection record lacks takes the record of the one recorded name
//! of the same kind and short name that the build lacks, when there is
//! exactly one on each side.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Recorded name, by the build's name it moved to.
#[derive(Default)]
pub(super) struct Moves(HashMap<String, String>);

impl Moves {
    /// The moves between the names `recorded` (a change-detection record's,
    /// all kinds) and the build's `current` names of one kind, `kind` being
    /// `""` for systems and `"observer "` for observers.
    pub(super) fn new<'a>(
        recorded: impl Iterator<Item = &'a str>,
        current: impl Iterator<Item = String>,
        kind: &str,
    ) -> Moves {
        let of_kind = |name: &str| -> Option<String> {
            let rest = name.strip_prefix(kind)?;
            // Systems: not a run condition, an observer, a set or `@world`.
            let other = kind.is_empty()
                && (rest.starts_with("run_if #")
                    || rest.starts_with("observer ")
                    || rest.starts_with("set ")
                    || rest.starts_with('@'));
            (!other).then(|| rest.to_owned())
        };
        let short = |path: &str| path.rsplit("::").next().unwrap_or(path).to_owned();
        let recorded: BTreeSet<String> = recorded.filter_map(of_kind).collect();
        let current: BTreeSet<String> = current.filter_map(|n| of_kind(&n)).collect();
        let mut gone: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for path in recorded.difference(&current) {
            gone.entry(short(path)).or_default().push(path);
        }
        let mut came: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for path in current.difference(&recorded) {
            came.entry(short(path)).or_default().push(path);
        }
        let mut moves = HashMap::new();
        for (key, to) in came {
            if let (Some([from]), [to]) = (gone.get(&key).map(Vec::as_slice), to.as_slice()) {
                moves.insert(format!("{kind}{to}"), format!("{kind}{from}"));
            }
        }
        Moves(moves)
    }

    /// The name `name` (a system's, an observer's, or a run condition's,
    /// `run_if #i of <system>`) was recorded under.
    pub(super) fn recorded_name<'n>(&'n self, name: &'n str) -> std::borrow::Cow<'n, str> {
        if let Some(from) = self.0.get(name) {
            return from.as_str().into();
        }
        if let Some((head, system)) = name
            .strip_prefix("run_if #")
            .and_then(|rest| rest.split_once(" of "))
            && let Some(from) = self.0.get(system)
        {
            return format!("run_if #{head} of {from}").into();
        }
        name.into()
    }
}

#[cfg(test)]
mod tests {
    use super::Moves;

    fn moves(recorded: &[&str], current: &[&str], kind: &str) -> Moves {
        Moves::new(
            recorded.iter().copied(),
            current.iter().map(|s| (*s).to_owned()),
            kind,
        )
    }

    #[test]
    fn a_system_moved_to_another_module_keeps_its_record() {
        let m = moves(
            &[
                "app::first::see",
                "app::keep",
                "@world",
                "run_if #0 of app::first::see",
            ],
            &["app::second::see", "app::keep"],
            "",
        );
        assert_eq!(m.recorded_name("app::second::see"), "app::first::see");
        assert_eq!(
            m.recorded_name("run_if #0 of app::second::see"),
            "run_if #0 of app::first::see"
        );
        assert_eq!(m.recorded_name("app::keep"), "app::keep");
    }

    #[test]
    fn a_second_system_of_the_same_short_name_is_new() {
        // `a::remind` stays; `b::remind` is added: not a move.
        let m = moves(&["a::remind"], &["a::remind", "b::remind"], "");
        assert_eq!(m.recorded_name("b::remind"), "b::remind");
        // Two gone and one came: ambiguous, not followed.
        let m = moves(&["a::remind", "b::remind"], &["c::remind"], "");
        assert_eq!(m.recorded_name("c::remind"), "c::remind");
    }

    #[test]
    fn observers_and_systems_move_apart() {
        let recorded = ["observer old::watch", "old::watch"];
        let m = moves(&recorded, &["observer new::watch"], "observer ");
        assert_eq!(
            m.recorded_name("observer new::watch"),
            "observer old::watch"
        );
        let m = moves(&recorded, &["new::watch"], "");
        assert_eq!(m.recorded_name("new::watch"), "old::watch");
        assert_eq!(
            m.recorded_name("observer new::watch"),
            "observer new::watch"
        );
    }
}
