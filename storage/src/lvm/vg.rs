//! What an LVM2 volume group's metadata says, and what sesame may activate of it: the
//! VG (id, seqno, extent size, its PVs and LVs) read from the [`text`](super::text)
//! tree, each LV judged activatable (every segment `striped`, linear being one stripe)
//! or refused with the reason, and its device-mapper name, UUID and table as lvm2
//! makes them.

use super::text::{Section, Value};

/// A PV of the VG, as its metadata names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvRef {
    /// The key in `physical_volumes` (`pv0`), which segments refer to.
    pub key: String,
    /// The PV UUID (`xxxxxx-xxxx-…`).
    pub id: String,
    /// First sector of the PV's extents.
    pub pe_start: u64,
    pub pe_count: u64,
}

/// One stripe of a segment: a PV and the first extent on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stripe {
    pub pv: String,
    pub extent: u64,
}

/// A segment of an LV (only `striped` ones are kept; others refuse the LV).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_extent: u64,
    pub extent_count: u64,
    /// Sectors; 0 for one stripe.
    pub stripe_size: u64,
    pub stripes: Vec<Stripe>,
}

/// An LV and whether sesame activates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lv {
    pub name: String,
    pub id: String,
    pub segments: Vec<Segment>,
    /// Why sesame does not activate it (`None`: it does).
    pub refused: Option<String>,
    /// Not `VISIBLE`: an internal LV (a pool's data, a mirror leg) that is never
    /// activated on its own.
    pub hidden: bool,
}

/// A volume group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vg {
    pub name: String,
    pub id: String,
    pub seqno: u64,
    /// Sectors.
    pub extent_size: u64,
    pub pvs: Vec<PvRef>,
    pub lvs: Vec<Lv>,
    /// Why no LV of the VG is activated (exported, locked, foreign), if so.
    pub refused: Option<String>,
}

/// Reads the VG from the metadata's top-level section. `host_system_id`: this host's
/// LVM system ID, if any (a VG owned by another system is refused).
pub fn read_vg(top: &Section, host_system_id: Option<&str>) -> Result<Vg, String> {
    let (name, s) = top
        .sections()
        .next()
        .ok_or("the LVM metadata holds no volume group")?;
    let need = |key: &str| -> Result<i64, String> {
        s.int(key)
            .ok_or_else(|| format!("VG {name}: `{key}` missing or not a number"))
    };
    let id = s
        .str("id")
        .ok_or_else(|| format!("VG {name}: `id` missing"))?
        .to_string();
    let seqno = need("seqno")?;
    let extent_size = need("extent_size")?;
    if seqno < 0 || extent_size <= 0 {
        return Err(format!(
            "VG {name}: seqno {seqno} or extent size {extent_size} out of range"
        ));
    }
    let mut pvs = Vec::new();
    for (key, pv) in s
        .section("physical_volumes")
        .map(|p| p.sections())
        .into_iter()
        .flatten()
    {
        let num = |k: &str| -> Result<u64, String> {
            pv.int(k)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| format!("VG {name}: PV {key}: `{k}` missing or negative"))
        };
        pvs.push(PvRef {
            key: key.to_string(),
            id: pv
                .str("id")
                .ok_or_else(|| format!("VG {name}: PV {key}: `id` missing"))?
                .to_string(),
            pe_start: num("pe_start")?,
            pe_count: num("pe_count")?,
        });
    }
    let status = s.strings("status");
    let refused = if status.contains(&"EXPORTED") {
        Some("the VG is exported (vgexport); run `vgimport` on a system that has it".to_string())
    } else if let Some(lock) = s.str("lock_type").filter(|l| !l.is_empty() && *l != "none") {
        Some(format!(
            "the VG uses lvmlockd ({lock}), which sesame does not run"
        ))
    } else if let Some(owner) = s.str("system_id").filter(|o| !o.is_empty()) {
        (host_system_id != Some(owner)).then(|| {
            format!("the VG belongs to system ID `{owner}`, not this host; see lvmsystemid(7)")
        })
    } else if !status.contains(&"READ") {
        Some("the VG is not readable (no READ status)".into())
    } else {
        None
    };
    let lv_sections = s.section("logical_volumes");
    let origins: Vec<&str> = lv_sections
        .map(|l| l.sections())
        .into_iter()
        .flatten()
        .flat_map(|(_, lv)| lv.sections())
        .filter(|(_, seg)| seg.str("type") == Some("snapshot"))
        .filter_map(|(_, seg)| seg.str("origin"))
        .collect();
    let mut lvs = Vec::new();
    for (lv_name, lv) in lv_sections.map(|l| l.sections()).into_iter().flatten() {
        lvs.push(read_lv(name, lv_name, lv, &pvs, &origins)?);
    }
    Ok(Vg {
        name: name.to_string(),
        id,
        seqno: seqno as u64,
        extent_size: extent_size as u64,
        pvs,
        lvs,
        refused,
    })
}

fn read_lv(
    vg: &str,
    name: &str,
    lv: &Section,
    pvs: &[PvRef],
    origins: &[&str],
) -> Result<Lv, String> {
    let id = lv
        .str("id")
        .ok_or_else(|| format!("LV {vg}/{name}: `id` missing"))?
        .to_string();
    let status = lv.strings("status");
    let hidden = !status.contains(&"VISIBLE");
    let mut refused = None;
    let mut segments = Vec::new();
    for (key, seg) in lv.sections().filter(|(k, _)| k.starts_with("segment")) {
        let kind = seg.str("type").unwrap_or("");
        if kind != "striped" {
            refused.get_or_insert_with(|| refusal(kind));
            continue;
        }
        let num = |k: &str| -> Result<u64, String> {
            seg.int(k)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| format!("LV {vg}/{name} {key}: `{k}` missing or negative"))
        };
        let stripe_count = num("stripe_count")?;
        let list = seg.list("stripes").unwrap_or_default();
        let mut stripes = Vec::new();
        for pair in list.chunks(2) {
            match pair {
                [Value::Str(pv), Value::Int(e)] if *e >= 0 => stripes.push(Stripe {
                    pv: pv.clone(),
                    extent: *e as u64,
                }),
                _ => return Err(format!("LV {vg}/{name} {key}: malformed `stripes`")),
            }
        }
        if stripe_count == 0 || stripes.len() as u64 != stripe_count {
            return Err(format!(
                "LV {vg}/{name} {key}: {} stripes listed, stripe_count {stripe_count}",
                stripes.len()
            ));
        }
        let stripe_size = if stripe_count > 1 {
            num("stripe_size")?
        } else {
            0
        };
        let extent_count = num("extent_count")?;
        if extent_count == 0 || extent_count % stripe_count != 0 {
            return Err(format!(
                "LV {vg}/{name} {key}: {extent_count} extents over {stripe_count} stripes"
            ));
        }
        for st in &stripes {
            let pv = pvs
                .iter()
                .find(|p| p.key == st.pv)
                .ok_or_else(|| format!("LV {vg}/{name} {key}: stripe on unknown PV `{}`", st.pv))?;
            let end = st.extent.checked_add(extent_count / stripe_count);
            if end.is_none_or(|e| e > pv.pe_count) {
                return Err(format!(
                    "LV {vg}/{name} {key}: extents past the end of PV {}",
                    st.pv
                ));
            }
        }
        segments.push(Segment {
            start_extent: num("start_extent")?,
            extent_count,
            stripe_size,
            stripes,
        });
    }
    if refused.is_none() && origins.contains(&name) {
        refused =
            Some("it is the origin of a snapshot (snapshots need lvm2's own activation)".into());
    }
    if refused.is_none() && segments.is_empty() {
        refused = Some("it has no segments".into());
    }
    segments.sort_by_key(|s| s.start_extent);
    let mut next: u64 = 0;
    for s in &segments {
        if refused.is_none() && s.start_extent != next {
            return Err(format!(
                "LV {vg}/{name}: its segments leave a gap at extent {next}"
            ));
        }
        next = s
            .start_extent
            .checked_add(s.extent_count)
            .ok_or_else(|| format!("LV {vg}/{name}: extent numbers overflow"))?;
    }
    Ok(Lv {
        name: name.to_string(),
        id,
        segments,
        refused,
        hidden,
    })
}

fn refusal(kind: &str) -> String {
    let what = match kind {
        "thin" | "thin-pool" => "thin provisioning",
        "cache" | "cache-pool" | "writecache" => "caching",
        k if k.starts_with("raid") || k == "mirror" => "LVM RAID/mirroring",
        "snapshot" => "a snapshot",
        "vdo" | "vdo-pool" => "VDO",
        "integrity" => "dm-integrity",
        "" => "a segment without a type",
        _ => "a segment type",
    };
    format!(
        "its segment type `{kind}` ({what}) is not activated by sesame, which maps linear and \
         striped LVs only; keep the root on a linear LV, or let the real system activate this one"
    )
}

/// The device-mapper name lvm2 gives `vg`/`lv`: both joined by `-`, every `-` inside
/// either doubled.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// The device-mapper UUID lvm2 gives an LV: `LVM-` + VG id + LV id, without dashes.
pub fn dm_uuid(vg_id: &str, lv_id: &str) -> String {
    format!("LVM-{}{}", vg_id.replace('-', ""), lv_id.replace('-', ""))
}

/// The device-mapper table of `lv` (lines `start length target args`, in sectors), each
/// PV given as `major:minor` by `device_of` (by PV key). `None` from `device_of`: that
/// PV is missing, and the error names it.
pub fn table(
    vg: &Vg,
    lv: &Lv,
    device_of: impl Fn(&PvRef) -> Option<String>,
) -> Result<Vec<String>, String> {
    let overflow = || format!("LV {}/{}: sector numbers overflow", vg.name, lv.name);
    let sectors = |extents: u64| extents.checked_mul(vg.extent_size).ok_or_else(overflow);
    let mut lines = Vec::new();
    for seg in &lv.segments {
        let start = sectors(seg.start_extent)?;
        let len = sectors(seg.extent_count)?;
        let mut devs = Vec::new();
        for st in &seg.stripes {
            let pv = vg
                .pvs
                .iter()
                .find(|p| p.key == st.pv)
                .ok_or_else(|| format!("LV {}/{}: unknown PV {}", vg.name, lv.name, st.pv))?;
            let dev = device_of(pv).ok_or_else(|| {
                format!(
                    "LV {}/{}: PV {} ({}) is missing",
                    vg.name, lv.name, pv.key, pv.id
                )
            })?;
            let offset = sectors(st.extent)?
                .checked_add(pv.pe_start)
                .ok_or_else(overflow)?;
            devs.push(format!("{dev} {offset}"));
        }
        if devs.len() == 1 {
            lines.push(format!("{start} {len} linear {}", devs[0]));
        } else {
            lines.push(format!(
                "{start} {len} striped {} {} {}",
                devs.len(),
                seg.stripe_size,
                devs.join(" ")
            ));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
