//! The manifest: the one small object that says which snapshots a prefix
//! holds. Readers trust only it: a snapshot object it does not name does
//! not exist for them, and every object it names was written whole before
//! the manifest that names it.

use std::collections::BTreeSet;

use dizzy_snapshots::{Links, SnapshotKind, SnapshotMeta, retained};
use serde::{Deserialize, Serialize};

/// The manifest format this build writes (and the newest it reads).
pub(crate) const MANIFEST_FORMAT: u32 = 1;

/// The manifest's object name, under the prefix.
pub(crate) const MANIFEST: &str = "manifest.json";

/// Where snapshot objects live, under the prefix.
pub(crate) const SNAPSHOTS_DIR: &str = "snapshots";

/// The object name of snapshot `id`, under the prefix.
pub(crate) fn object_name(id: u64) -> String {
    format!("{SNAPSHOTS_DIR}/{id:020}.dzs")
}

/// The snapshot id of an object name made by [`object_name`].
pub(crate) fn id_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".dzs")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// One snapshot the bucket holds, as its manifest names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicated {
    /// Snapshot id (the same as in the file it came from).
    pub id: u64,
    /// `"full"` or `"delta"`.
    pub kind: String,
    /// For a delta: the snapshot it applies to.
    pub base: Option<u64>,
    /// The engine tick the world had finished.
    pub tick: u64,
    /// Capture time, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Live persisted entities after this snapshot.
    pub entities: u64,
    /// Bytes of chunk data the snapshot holds.
    pub bytes: u64,
    /// Size of its object.
    pub size: u64,
    /// SHA-256 of its object (hex).
    pub sha256: String,
}

impl Replicated {
    pub(crate) fn new(meta: &SnapshotMeta, object: &[u8]) -> Self {
        Replicated {
            id: meta.id,
            kind: meta.kind.as_str().to_owned(),
            base: meta.base,
            tick: meta.tick,
            unix_ms: meta.unix_ms,
            entities: meta.entities,
            bytes: meta.bytes,
            size: object.len() as u64,
            sha256: crate::object::sha256_hex(object),
        }
    }

    /// Whether `meta` (a file's record) describes this same snapshot: same
    /// id, kind, base, tick, capture time, entities and bytes.
    pub fn describes(&self, meta: &SnapshotMeta) -> bool {
        self.differences(meta).is_empty()
    }

    /// What differs between this entry and `meta`, one `field: X in the
    /// manifest, Y in the object` each.
    pub fn differences(&self, meta: &SnapshotMeta) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, here: String, there: String| {
            if here != there {
                out.push(format!(
                    "{name}: {here} in the manifest, {there} in the object"
                ));
            }
        };
        field("id", self.id.to_string(), meta.id.to_string());
        field("kind", self.kind.clone(), meta.kind.as_str().to_owned());
        field(
            "base",
            format!("{:?}", self.base),
            format!("{:?}", meta.base),
        );
        field("tick", self.tick.to_string(), meta.tick.to_string());
        field(
            "unix_ms",
            self.unix_ms.to_string(),
            meta.unix_ms.to_string(),
        );
        field(
            "entities",
            self.entities.to_string(),
            meta.entities.to_string(),
        );
        field("bytes", self.bytes.to_string(), meta.bytes.to_string());
        out
    }

    /// Whether it is a full snapshot.
    pub fn is_full(&self) -> bool {
        self.kind == SnapshotKind::Full.as_str()
    }
}

/// The manifest of a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub dizzy_replica: u32,
    /// The snapshots, oldest first.
    pub snapshots: Vec<Replicated>,
}

impl Manifest {
    pub(crate) fn empty() -> Self {
        Manifest {
            dizzy_replica: MANIFEST_FORMAT,
            snapshots: Vec::new(),
        }
    }

    /// Parses and checks a manifest; `Err` says what is wrong.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Version {
            dizzy_replica: u32,
        }
        let version: Version = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a dizzy replica manifest ({e})"))?;
        if version.dizzy_replica > MANIFEST_FORMAT {
            return Err(format!(
                "a manifest of format {}; this build reads formats up to {MANIFEST_FORMAT}",
                version.dizzy_replica
            ));
        }
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("a damaged manifest ({e})"))?;
        let mut ids = BTreeSet::new();
        for (i, s) in m.snapshots.iter().enumerate() {
            if i > 0 && m.snapshots[i - 1].id >= s.id {
                return Err(format!("snapshot {} is listed out of order", s.id));
            }
            match (s.kind.as_str(), s.base) {
                ("full", None) => {}
                ("delta", Some(base)) if base < s.id && ids.contains(&base) => {}
                ("delta", Some(base)) => {
                    return Err(format!(
                        "snapshot {} is a delta on snapshot {base}, which it does not list first",
                        s.id
                    ));
                }
                (kind, _) => {
                    return Err(format!("snapshot {} has a bad kind `{kind}`", s.id));
                }
            }
            ids.insert(s.id);
        }
        Ok(m)
    }

    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut text = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        text.push(b'\n');
        Ok(text)
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Replicated> {
        self.snapshots
            .binary_search_by_key(&id, |s| s.id)
            .ok()
            .map(|i| &self.snapshots[i])
    }

    pub(crate) fn newest(&self) -> Option<&Replicated> {
        self.snapshots.last()
    }

    /// Adds snapshots (newer than every listed one, bases first).
    pub(crate) fn extend(&mut self, added: impl IntoIterator<Item = Replicated>) {
        self.snapshots.extend(added);
        self.snapshots.sort_by_key(|s| s.id);
        self.snapshots.dedup_by_key(|s| s.id);
    }

    fn links(&self) -> Links {
        self.snapshots.iter().map(|s| (s.id, s.base)).collect()
    }

    /// Drops the snapshots that retention (the newest `keep_last` and what
    /// their chains need) lets go; returns their ids.
    pub(crate) fn retain(&mut self, keep_last: usize) -> Vec<u64> {
        let keep = retained(&self.links(), keep_last);
        let gone = self
            .snapshots
            .iter()
            .map(|s| s.id)
            .filter(|id| !keep.contains(id))
            .collect();
        self.snapshots.retain(|s| keep.contains(&s.id));
        gone
    }

    /// The chain that restores `target`: its full snapshot first.
    pub(crate) fn chain(&self, target: u64) -> Result<Vec<&Replicated>, String> {
        let mut chain: Vec<&Replicated> = Vec::new();
        let mut at = Some(target);
        while let Some(id) = at {
            let s = self.get(id).ok_or_else(|| match chain.last() {
                None => format!("holds no snapshot {id}"),
                Some(d) => format!(
                    "snapshot {} is a delta on snapshot {id}, which it does not hold",
                    d.id
                ),
            })?;
            chain.push(s);
            at = s.base;
        }
        chain.reverse();
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, base: Option<u64>) -> Replicated {
        Replicated {
            id,
            kind: if base.is_some() { "delta" } else { "full" }.into(),
            base,
            tick: id,
            unix_ms: 0,
            entities: 0,
            bytes: 0,
            size: 0,
            sha256: String::new(),
        }
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(object_name(7), "snapshots/00000000000000000007.dzs");
        assert_eq!(id_of("00000000000000000007.dzs"), Some(7));
        assert_eq!(id_of("7.dzs"), None);
        assert_eq!(id_of("0000000000000000000x.dzs"), None);
    }

    #[test]
    fn retention_keeps_chains_and_parse_checks_them() {
        let mut m = Manifest::empty();
        m.extend([
            entry(1, None),
            entry(2, Some(1)),
            entry(3, None),
            entry(4, Some(3)),
        ]);
        let back = Manifest::parse(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            m.chain(4).unwrap().iter().map(|s| s.id).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(m.retain(1), [1, 2]);
        assert_eq!(m.snapshots.len(), 2);

        let mut broken = Manifest::empty();
        broken.snapshots = vec![entry(2, Some(1))];
        let e = Manifest::parse(&broken.to_bytes().unwrap()).unwrap_err();
        assert!(e.contains("delta on snapshot 1"), "{e}");
        let e = Manifest::parse(br#"{"dizzy_replica": 9, "snapshots": []}"#).unwrap_err();
        assert!(e.contains("format 9"), "{e}");
        assert!(Manifest::parse(b"<html>").is_err());
    }
}
