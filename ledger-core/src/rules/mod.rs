//! The rules and the projection (SPEC.md §5–7): `State::apply` takes a verified entry and
//! either refuses it, changing nothing, or applies it. The node runs it to refuse; the verifier
//! runs the very same code to re-check, so the two can never disagree on what is valid.
//!
//! Every handler first *plans* (reads state, computes which lots move) and only then commits;
//! a refusal can therefore never leave a half-applied entry behind.

mod entries;
mod money;
mod sources;
mod views;

pub use money::{AssetTotals, Portion, PortionAmount, PortionPlace};
pub use sources::Source;
pub use views::{
    AuditView, Balances, CaseBalance, CaseMovement, CaseView, ComplaintView, FundBalance, GoodsTotals, Totals,
};

use crate::entry::VerifiedEntry;
use crate::event::{Event, Policy};
use crate::hash::Hash;
use crate::limits::{DUAL_CONTROL_WINDOW_MS, FUTURE_SKEW_MS, LOG_ENTRIES_MAX};
use crate::merkle::Frontier;
use crate::refusal::{refuse, Refusal, Rule};
use crate::types::{EventId, KeyHex, Kind, Population, Programme, Role};
use money::{Lot, Movement, NONE};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How often `commit` drops dual-control windows that have emptied. A window is trimmed when its
/// own object moves again; without this sweep every object ever moved would keep one.
const DUAL_WINDOW_SWEEP_ENTRIES: u64 = 4096;

/// What genesis fixed for the life of the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogInfo {
    pub origin: String,
    pub name: String,
    pub log_key: KeyHex,
    pub policy: Policy,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeyRecord {
    roles: u8,
    revoked: bool,
}

impl KeyRecord {
    fn has(&self, role: Role) -> bool {
        self.roles & role.bit() != 0
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Fund {
    seq: u64,
    programme: Programme,
    restricted: bool,
    closed: bool,
    holdings: money::AssetMap<money::FundLots>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Case {
    seq: u64,
    programme: Programme,
    closed: bool,
    holdings: money::AssetMap<money::CaseLots>,
    allocations: Vec<u32>,
    disbursements: Vec<u32>,
    /// Donations earmarked straight to this case.
    earmarked: Vec<u32>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Complaint {
    seq: u64,
    updates: Vec<u64>,
    resolved: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Plan {
    seq: u64,
    population: Population,
    from_seq: u64,
    to_seq: u64,
    rate_permille: u32,
    seed_size: u64,
    nonce_hash: Hash,
    root: Option<Hash>,
    sample: Option<u64>,
    findings: Vec<u64>,
}

/// The witness set the log declares (SPEC.md §4).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WitnessPolicyInfo {
    pub witnesses: Vec<(String, String, String)>,
    pub quorum: u32,
}

/// The ledger's state after every applied entry: keys, objects, lots, totals, and the tree's
/// frontier (so audit samples can be recomputed from entries alone).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    info: Option<LogInfo>,
    size: u64,
    last_leaf: Hash,
    last_time_ms: i64,
    frontier: Frontier,
    /// Every entry's id, kind and the object it created.
    entries: entries::EntryIndex,
    keys: HashMap<KeyHex, KeyRecord>,
    admins_unrevoked: usize,
    witness_policy: Option<WitnessPolicyInfo>,
    funds: Vec<Fund>,
    cases: Vec<Case>,
    donations: Vec<money::Donation>,
    /// Refunds and corrections by donation: (seq, amount, is a correction). Few gifts have any,
    /// so they are kept here rather than as a list in every donation.
    outflows: BTreeMap<u32, Vec<(u64, u64, bool)>>,
    allocations: Vec<money::Allocation>,
    disbursements: Vec<money::Disbursement>,
    complaints: Vec<Complaint>,
    plans: Vec<Plan>,
    /// Rectifications by object index: closed or not.
    rectifications: Vec<bool>,
    lots: Vec<Lot>,
    /// Asset 0 is cash; asset i > 0 is goods item `items[i - 1]` with its unit.
    items: Vec<(Box<str>, Box<str>)>,
    item_index: HashMap<Box<str>, u32>,
    totals: Vec<AssetTotals>,
    /// Single-signed events per (kind, object) inside the dual-control window: (time, value).
    dual_windows: HashMap<(Kind, u32), VecDeque<(i64, u64)>>,
    /// Plans waiting for the tree to reach their seed size.
    pending_seeds: BTreeMap<u64, Vec<u32>>,
}

/// What `apply` reports about an accepted entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// For `audit.sampled`: the selected ids in score order.
    pub selected: Vec<String>,
}

/// The role a kind needs, SPEC.md §5 (genesis and key changes are handled apart).
fn role_for(kind: Kind) -> Role {
    match kind {
        Kind::Genesis
        | Kind::KeyGranted
        | Kind::KeyRevoked
        | Kind::WitnessPolicy
        | Kind::FundOpened
        | Kind::FundClosed => Role::Admin,
        Kind::CaseOpened | Kind::CaseClosed => Role::Caseworker,
        Kind::DonationReceived | Kind::DonationRefunded | Kind::DonationCorrected => Role::Intake,
        Kind::EarmarkRedirected | Kind::AllocationMade | Kind::AllocationRevoked => Role::Allocator,
        Kind::DisbursementMade | Kind::DisbursementReturned => Role::Disburser,
        Kind::ComplaintFiled | Kind::ComplaintUpdated | Kind::ComplaintResolved => Role::Hotline,
        Kind::AuditPlanned
        | Kind::AuditSampled
        | Kind::AuditFinding
        | Kind::RectificationIssued
        | Kind::RectificationClosed => Role::Auditor,
    }
}

impl State {
    pub fn new() -> State {
        State { totals: vec![AssetTotals::default()], ..State::default() }
    }

    /// Entries applied so far: the next entry's seq.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The leaf hash of the last entry (the next entry's `prev`), zeros when empty.
    pub fn last_leaf(&self) -> Hash {
        self.last_leaf
    }
    pub fn last_time_ms(&self) -> i64 {
        self.last_time_ms
    }
    /// The RFC 6962 root of the entries applied so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
    pub fn info(&self) -> Option<&LogInfo> {
        self.info.as_ref()
    }
    pub fn witness_policy(&self) -> Option<&WitnessPolicyInfo> {
        self.witness_policy.as_ref()
    }
    /// The seq and kind of the entry with this id.
    pub fn lookup(&self, id: &str) -> Option<(u64, Kind)> {
        let seq = self.entries.seq_of(id)?;
        Some((seq, self.entries.kind(seq)?))
    }
    /// The id of the entry at `seq`.
    pub fn id_at(&self, seq: u64) -> Option<&str> {
        self.entries.id(seq)
    }
    /// Roles of a key now, and whether it is revoked.
    pub fn key_roles(&self, key: &KeyHex) -> Option<(Vec<Role>, bool)> {
        self.keys
            .get(key)
            .map(|r| (Role::ALL.iter().copied().filter(|role| r.has(*role)).collect(), r.revoked))
    }

    /// Checks `entry` against everything before it and applies it, or refuses it and changes
    /// nothing. Checks run in the order of SPEC.md §8.
    pub fn apply(&mut self, entry: &VerifiedEntry) -> Result<Applied, Refusal> {
        let (time_ms, change) = self.judge(entry)?;
        let applied = self.commit(entry.event(), entry, change, time_ms);
        self.check_conservation()?;
        Ok(applied)
    }

    /// Every rule `apply` checks, changing nothing: what `entry` would be refused for as the
    /// next entry of this log, if anything. A dry run judges envelopes with it without copying
    /// the state.
    pub fn check(&self, entry: &VerifiedEntry) -> Result<(), Refusal> {
        self.judge(entry).map(|_| ())
    }

    /// Steps 4–7 of SPEC.md §8 for the next entry, in order: its time and what it would change.
    fn judge(&self, entry: &VerifiedEntry) -> Result<(i64, Change), Refusal> {
        let time_ms = self.check_chain(entry)?;
        let event = entry.event();
        let signers = entry.envelope().signers();
        if let Some(seq) = self.entries.seq_of(event.id().as_str()) {
            return Err(Refusal {
                rule: Rule::DuplicateId,
                message: format!("id {} is already used by the entry at seq {seq}", event.id()),
                seq: Some(seq),
            });
        }
        // Position before authority: at seq 0 no key exists yet, and "this is not genesis" is
        // the fault a client needs to hear, not "unknown key".
        let is_genesis = matches!(event, Event::Genesis(_));
        if is_genesis != (entry.seq() == 0) {
            return refuse(Rule::GenesisOnly, "ledger.genesis is the entry at seq 0, and only it");
        }
        self.authorize(event, signers)?;
        self.check_time(event, time_ms)?;
        let change = self.plan(event, entry.seq())?;
        self.check_dual_control(event, &change, signers.len(), time_ms)?;
        Ok((time_ms, change))
    }

    fn check_chain(&self, entry: &VerifiedEntry) -> Result<i64, Refusal> {
        if entry.seq() != self.size {
            return refuse(Rule::Seq, format!("entry has seq {}, expected {}", entry.seq(), self.size));
        }
        if entry.seq() >= LOG_ENTRIES_MAX {
            return refuse(Rule::TooLarge, format!("a log holds at most {LOG_ENTRIES_MAX} entries"));
        }
        if entry.prev() != self.last_leaf {
            return refuse(
                Rule::Prev,
                format!(
                    "prev is {}, but the leaf hash of the entry before is {}",
                    entry.prev(),
                    self.last_leaf
                ),
            );
        }
        let time_ms = entry.time().unix_ms();
        if self.size > 0 && time_ms < self.last_time_ms {
            return refuse(
                Rule::TimeOrder,
                format!("time {} is earlier than the entry before", entry.time()),
            );
        }
        Ok(time_ms)
    }

    fn authorize(&self, event: &Event, signers: &[KeyHex]) -> Result<(), Refusal> {
        match event {
            Event::Genesis(b) => {
                let mut want: Vec<&KeyHex> = b.admins.iter().collect();
                let mut got: Vec<&KeyHex> = signers.iter().collect();
                want.sort();
                got.sort();
                if want != got {
                    return refuse(
                        Rule::Role,
                        "genesis is signed by every key in admins and by no other key",
                    );
                }
                return Ok(());
            }
            Event::KeyRevoked(b) if signers.len() == 1 && signers[0] == b.key => {
                // A key may always revoke itself alone, unless it is already revoked.
                return match self.keys.get(&b.key) {
                    Some(r) if !r.revoked => Ok(()),
                    Some(_) => refuse(Rule::Revoked, format!("key {} is revoked", b.key)),
                    None => refuse(Rule::Role, format!("key {} holds no role in this log", b.key)),
                };
            }
            _ => {}
        }
        let role = role_for(event.kind());
        for signer in signers {
            match self.keys.get(signer) {
                None => return refuse(Rule::Role, format!("key {signer} holds no role in this log")),
                Some(r) if r.revoked => return refuse(Rule::Revoked, format!("key {signer} is revoked")),
                Some(r) if !r.has(role) => {
                    return refuse(
                        Rule::Role,
                        format!("key {signer} does not hold the {role} role needed for {}", event.kind()),
                    )
                }
                Some(_) => {}
            }
        }
        let key_change = matches!(event.kind(), Kind::KeyGranted | Kind::KeyRevoked | Kind::WitnessPolicy);
        if key_change && self.admins_unrevoked >= 2 && signers.len() < 2 {
            return refuse(
                Rule::KeyChangeQuorum,
                format!("{} needs two admins while {} admins hold keys", event.kind(), self.admins_unrevoked),
            );
        }
        Ok(())
    }

    fn check_time(&self, event: &Event, time_ms: i64) -> Result<(), Refusal> {
        let backdate_days = match (event, &self.info) {
            (Event::Genesis(b), _) => b.policy.max_backdate_days,
            (_, Some(info)) => info.policy.max_backdate_days,
            (_, None) => 0,
        };
        let at = event.at().unix_nanos();
        let time_ns = i128::from(time_ms) * 1_000_000;
        let latest = time_ns + i128::from(FUTURE_SKEW_MS) * 1_000_000;
        let earliest = time_ns - i128::from(backdate_days) * 86_400_000_000_000;
        if at > latest {
            return refuse(
                Rule::FutureTime,
                format!("at {} is more than 24 hours after the entry time", event.at().as_str()),
            );
        }
        if at < earliest {
            return refuse(
                Rule::Backdated,
                format!("at {} is more than {backdate_days} days before the entry time", event.at().as_str()),
            );
        }
        Ok(())
    }

    /// The object index of `id`, which must name an event of `kind`.
    fn resolve(&self, id: &EventId, kind: Kind) -> Result<u32, Refusal> {
        let found = self.entries.seq_of(id.as_str());
        match found.and_then(|s| Some((self.entries.kind(s)?, self.entries.obj(s)?))) {
            Some((k, obj)) if k == kind => Ok(obj),
            Some((k, _)) => refuse(Rule::UnknownReference, format!("{id} is a {k}, not a {kind}")),
            None => refuse(Rule::UnknownReference, format!("no event has id {id}")),
        }
    }

    fn resolve_any(&self, ids: &[EventId]) -> Result<(), Refusal> {
        for id in ids {
            if self.entries.seq_of(id.as_str()).is_none() {
                return refuse(Rule::UnknownReference, format!("no event has id {id}"));
            }
        }
        Ok(())
    }

    fn admin_count_after_loss(&self, key: &KeyHex) -> Option<usize> {
        let r = self.keys.get(key)?;
        (r.has(Role::Admin) && !r.revoked).then(|| self.admins_unrevoked.saturating_sub(1))
    }

    /// Step 6: every rule of the kind, reading state only.
    fn plan(&self, event: &Event, seq: u64) -> Result<Change, Refusal> {
        Ok(match event {
            Event::Genesis(_) | Event::WitnessPolicy(_) | Event::CaseOpened(_) => Change::None,
            Event::KeyGranted(b) => {
                if self.keys.get(&b.key).is_some_and(|r| r.revoked) {
                    return refuse(
                        Rule::KeyRevoked,
                        format!("key {} was revoked and cannot be granted again", b.key),
                    );
                }
                if !b.roles.contains(&Role::Admin) && self.admin_count_after_loss(&b.key) == Some(0) {
                    return refuse(Rule::LastAdmin, "the last admin key cannot lose the admin role");
                }
                Change::None
            }
            Event::KeyRevoked(b) => {
                match self.keys.get(&b.key) {
                    None => {
                        return refuse(
                            Rule::UnknownReference,
                            format!("key {} holds no role in this log", b.key),
                        )
                    }
                    Some(r) if r.revoked => {
                        return refuse(Rule::AlreadyResolved, format!("key {} is already revoked", b.key))
                    }
                    Some(_) => {}
                }
                if self.admin_count_after_loss(&b.key) == Some(0) {
                    return refuse(Rule::LastAdmin, "the last admin key cannot be revoked");
                }
                Change::None
            }
            Event::FundOpened(b) => {
                let opening = b.opening_balance_fen.get();
                self.check_total_room(0, AssetTotals::came_in, opening)?;
                Change::None
            }
            Event::FundClosed(b) => {
                let f = self.resolve(&b.fund, Kind::FundOpened)?;
                let fund = &self.funds[f as usize];
                if fund.closed {
                    return refuse(Rule::AlreadyResolved, format!("fund {} is already closed", b.fund));
                }
                if fund.holdings.values().any(|h| h.balance > 0) {
                    return refuse(Rule::NotEmpty, format!("fund {} still holds money or goods", b.fund));
                }
                Change::Close(f)
            }
            Event::CaseClosed(b) => {
                let c = self.resolve(&b.case, Kind::CaseOpened)?;
                let case = &self.cases[c as usize];
                if case.closed {
                    return refuse(Rule::AlreadyResolved, format!("case {} is already closed", b.case));
                }
                if case.holdings.values().any(|h| h.balance > 0) {
                    return refuse(Rule::NotEmpty, format!("case {} still holds money or goods", b.case));
                }
                Change::Close(c)
            }
            Event::ComplaintFiled(b) => {
                self.resolve_any(&b.subjects)?;
                Change::None
            }
            Event::ComplaintUpdated(b) => Change::Object(self.open_complaint(&b.complaint)?),
            Event::ComplaintResolved(b) => {
                let c = self.open_complaint(&b.complaint)?;
                self.resolve_any(&b.actions)?;
                Change::Object(c)
            }
            Event::AuditPlanned(b) => {
                let min = self.info.as_ref().map_or(100, |i| i.policy.min_audit_permille);
                if b.rate_permille < min || b.rate_permille > 1000 {
                    return refuse(Rule::BadSample, format!("rate_permille must be {min} to 1000"));
                }
                if !(b.from_seq < b.to_seq && b.to_seq <= seq) {
                    return refuse(
                        Rule::BadSample,
                        format!("the window must satisfy from_seq < to_seq <= {seq}, this entry's seq"),
                    );
                }
                if b.seed_size <= seq {
                    return refuse(
                        Rule::BadSample,
                        format!("seed_size must be a future tree size, over {seq}"),
                    );
                }
                Change::None
            }
            Event::AuditSampled(b) => {
                let p = self.resolve(&b.plan, Kind::AuditPlanned)?;
                let plan = &self.plans[p as usize];
                if let Some(s) = plan.sample {
                    return refuse(Rule::AlreadySampled, format!("plan {} was sampled at seq {s}", b.plan));
                }
                if seq < plan.seed_size {
                    return refuse(
                        Rule::BadSample,
                        format!("the log has not reached seed_size {} yet", plan.seed_size),
                    );
                }
                if crate::hash::sha256(&[&b.nonce.0 .0]) != plan.nonce_hash {
                    return refuse(Rule::BadSample, "SHA-256 of the nonce is not the plan's nonce_hash");
                }
                let selected = self.select_sample(plan, &b.nonce.0 .0)?;
                if b.selected_count != selected.len() as u64 {
                    return refuse(
                        Rule::BadSample,
                        format!(
                            "selected_count is {}, the rule selects {}",
                            b.selected_count,
                            selected.len()
                        ),
                    );
                }
                let ids: Vec<&str> = selected.iter().map(|s| s.as_str()).collect();
                if crate::sample::selected_hash(&ids) != b.selected_hash.0 {
                    return refuse(Rule::BadSample, "selected_hash is not the hash of the computed sample");
                }
                Change::Sample(p, selected)
            }
            Event::AuditFinding(b) => {
                let s = self.resolve(&b.sample, Kind::AuditSampled)?;
                self.resolve_any(&b.subjects)?;
                Change::Object(s)
            }
            Event::RectificationIssued(b) => {
                self.resolve(&b.finding, Kind::AuditFinding)?;
                self.resolve_any(std::slice::from_ref(&b.subject))?;
                Change::None
            }
            Event::RectificationClosed(b) => {
                let r = self.resolve(&b.rectification, Kind::RectificationIssued)?;
                if self.rectifications[r as usize] {
                    return refuse(
                        Rule::AlreadyResolved,
                        format!("rectification {} is already closed", b.rectification),
                    );
                }
                Change::Object(r)
            }
            _ => Change::Money(self.plan_money(event)?),
        })
    }

    fn open_complaint(&self, id: &EventId) -> Result<u32, Refusal> {
        let c = self.resolve(id, Kind::ComplaintFiled)?;
        if let Some(s) = self.complaints[c as usize].resolved {
            return refuse(Rule::AlreadyResolved, format!("complaint {id} was resolved at seq {s}"));
        }
        Ok(c)
    }

    /// The sample a plan selects, from the root recorded when the log reached its seed size.
    fn select_sample(&self, plan: &Plan, nonce: &[u8; 32]) -> Result<Vec<String>, Refusal> {
        let root = plan
            .root
            .ok_or_else(|| Refusal::new(Rule::BadSample, "the seed root of this plan is not known yet"))?;
        let population: Vec<(u64, &str)> = self
            .population_seqs(plan.population, plan.from_seq, plan.to_seq)
            .into_iter()
            .map(|s| (s, self.name(s)))
            .collect();
        if population.is_empty() {
            return refuse(Rule::BadSample, "the plan's window holds no item of its population");
        }
        Ok(crate::sample::select(&root, nonce, &population, plan.rate_permille)
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    /// Seqs of a population's items in `from..to`. Each kind's objects are created in seq order,
    /// so their tables are already the populations, sorted.
    fn population_seqs(&self, population: Population, from: u64, to: u64) -> Vec<u64> {
        fn window<T>(items: &[T], seq: impl Fn(&T) -> u64, from: u64, to: u64) -> Vec<u64> {
            let lo = items.partition_point(|i| seq(i) < from);
            let hi = items.partition_point(|i| seq(i) < to).max(lo);
            items[lo..hi].iter().map(seq).collect()
        }
        match population {
            Population::Donations => window(&self.donations, |d| d.seq, from, to),
            Population::Cases => window(&self.cases, |c| c.seq, from, to),
            Population::Disbursements => window(&self.disbursements, |x| x.seq, from, to),
        }
    }

    fn check_total_room(
        &self,
        asset: u32,
        field: impl Fn(&AssetTotals) -> u64,
        add: u64,
    ) -> Result<(), Refusal> {
        let current = self.totals.get(asset as usize).map_or(0, field);
        if current.checked_add(add).is_none() {
            return refuse(Rule::Overflow, "a ledger total would overflow");
        }
        Ok(())
    }

    /// Step 7: an event at or over the threshold, counting single-signed events of the same kind
    /// on the same object in the last 24 hours, needs two signatures.
    fn check_dual_control(
        &self,
        event: &Event,
        change: &Change,
        signer_count: usize,
        time_ms: i64,
    ) -> Result<(), Refusal> {
        let (Some(window_key), Change::Money(m)) = (dual_control_key(event, change), change) else {
            return Ok(());
        };
        if signer_count >= 2 {
            return Ok(());
        }
        let threshold = self.info.as_ref().map_or(u64::MAX, |i| i.policy.dual_control_fen.get());
        let since = time_ms - DUAL_CONTROL_WINDOW_MS;
        let recent: u64 = self
            .dual_windows
            .get(&window_key)
            .map(|w| w.iter().filter(|(t, _)| *t >= since).map(|(_, v)| *v).fold(0u64, u64::saturating_add))
            .unwrap_or(0);
        let total = recent.saturating_add(m.value_fen);
        if total >= threshold {
            return refuse(
                Rule::DualControl,
                format!(
                    "{} of value {} fen (with {} fen single-signed in the last 24 hours) reaches the dual-control threshold of {} fen: two signatures are needed",
                    event.kind(), m.value_fen, recent, threshold
                ),
            );
        }
        Ok(())
    }

    fn commit(&mut self, event: &Event, entry: &VerifiedEntry, change: Change, time_ms: i64) -> Applied {
        let seq = entry.seq();
        let mut applied = Applied::default();
        let mut obj = NONE;
        let window_key = dual_control_key(event, &change);
        match (event, change) {
            (Event::Genesis(b), _) => {
                self.info = Some(LogInfo {
                    origin: b.origin.clone(),
                    name: b.name.as_str().to_string(),
                    log_key: b.log_key,
                    policy: b.policy,
                });
                for k in &b.admins {
                    self.keys.insert(*k, KeyRecord { roles: Role::Admin.bit(), revoked: false });
                }
                self.admins_unrevoked = b.admins.len();
            }
            (Event::KeyGranted(b), _) => {
                let roles = b.roles.iter().fold(0u8, |acc, r| acc | r.bit());
                let was_admin = self.keys.get(&b.key).is_some_and(|r| r.has(Role::Admin));
                let now_admin = roles & Role::Admin.bit() != 0;
                self.keys.insert(b.key, KeyRecord { roles, revoked: false });
                match (was_admin, now_admin) {
                    (false, true) => self.admins_unrevoked += 1,
                    (true, false) => self.admins_unrevoked -= 1,
                    _ => {}
                }
            }
            (Event::KeyRevoked(b), _) => {
                if let Some(r) = self.keys.get_mut(&b.key) {
                    r.revoked = true;
                    if r.has(Role::Admin) {
                        self.admins_unrevoked -= 1;
                    }
                }
            }
            (Event::WitnessPolicy(b), _) => {
                self.witness_policy = Some(WitnessPolicyInfo {
                    witnesses: b
                        .witnesses
                        .iter()
                        .map(|w| (w.name.as_str().to_string(), w.vkey.clone(), w.url.as_str().to_string()))
                        .collect(),
                    quorum: b.quorum,
                });
            }
            (Event::FundOpened(b), _) => {
                obj = self.funds.len() as u32;
                self.funds.push(Fund {
                    seq,
                    programme: b.programme,
                    restricted: b.restricted,
                    closed: false,
                    holdings: Default::default(),
                });
                self.open_fund_balance(obj, seq, b.opening_balance_fen.get());
            }
            (Event::FundClosed(_), Change::Close(f)) => self.funds[f as usize].closed = true,
            (Event::CaseOpened(b), _) => {
                obj = self.cases.len() as u32;
                self.cases.push(Case {
                    seq,
                    programme: b.programme,
                    closed: false,
                    holdings: Default::default(),
                    allocations: Vec::new(),
                    disbursements: Vec::new(),
                    earmarked: Vec::new(),
                });
            }
            (Event::CaseClosed(_), Change::Close(c)) => self.cases[c as usize].closed = true,
            (Event::ComplaintFiled(_), _) => {
                obj = self.complaints.len() as u32;
                self.complaints.push(Complaint { seq, updates: Vec::new(), resolved: None });
            }
            (Event::ComplaintUpdated(_), Change::Object(c)) => self.complaints[c as usize].updates.push(seq),
            (Event::ComplaintResolved(_), Change::Object(c)) => {
                self.complaints[c as usize].resolved = Some(seq)
            }
            (Event::AuditPlanned(b), _) => {
                obj = self.plans.len() as u32;
                self.plans.push(Plan {
                    seq,
                    population: b.population,
                    from_seq: b.from_seq,
                    to_seq: b.to_seq,
                    rate_permille: b.rate_permille,
                    seed_size: b.seed_size,
                    nonce_hash: b.nonce_hash.0,
                    root: None,
                    sample: None,
                    findings: Vec::new(),
                });
                self.pending_seeds.entry(b.seed_size).or_default().push(obj);
            }
            (Event::AuditSampled(_), Change::Sample(p, selected)) => {
                obj = p;
                self.plans[p as usize].sample = Some(seq);
                applied.selected = selected;
            }
            (Event::AuditFinding(_), Change::Object(plan)) => {
                obj = plan;
                self.plans[plan as usize].findings.push(seq);
            }
            (Event::RectificationIssued(_), _) => {
                obj = self.rectifications.len() as u32;
                self.rectifications.push(false);
            }
            (Event::RectificationClosed(_), Change::Object(r)) => self.rectifications[r as usize] = true,
            (_, Change::Money(m)) => {
                obj = self.commit_money(event, seq, m.clone());
                if let Some(key) = window_key {
                    if entry.envelope().signers().len() < 2 {
                        let w = self.dual_windows.entry(key).or_default();
                        w.push_back((time_ms, m.value_fen));
                        // Times never decrease, so what has left the window never returns.
                        while w.front().is_some_and(|(t, _)| *t < time_ms - DUAL_CONTROL_WINDOW_MS) {
                            w.pop_front();
                        }
                    }
                }
            }
            _ => {}
        }
        self.entries.push(event.id().as_str(), event.kind(), obj);
        self.frontier.push(entry.leaf_hash());
        self.size += 1;
        if self.size % DUAL_WINDOW_SWEEP_ENTRIES == 0 {
            // Entry times never decrease, so what is out of the window now stays out.
            let since = time_ms - DUAL_CONTROL_WINDOW_MS;
            self.dual_windows.retain(|_, w| {
                while w.front().is_some_and(|(t, _)| *t < since) {
                    w.pop_front();
                }
                !w.is_empty()
            });
        }
        self.last_leaf = entry.leaf_hash();
        self.last_time_ms = time_ms;
        if let Some(plans) = self.pending_seeds.remove(&self.size) {
            let root = self.frontier.root();
            for p in plans {
                self.plans[p as usize].root = Some(root);
            }
        }
        applied
    }
}

/// What a planned entry will change, computed before anything is changed.
#[derive(Debug, Clone)]
enum Change {
    None,
    Close(u32),
    Object(u32),
    Sample(u32, Vec<String>),
    Money(Movement),
}

/// The dual-control window an event counts in: (kind, case) or (kind, donation).
fn dual_control_key(event: &Event, change: &Change) -> Option<(Kind, u32)> {
    let Change::Money(m) = change else { return None };
    match event.kind() {
        Kind::AllocationMade | Kind::DisbursementMade => Some((event.kind(), m.case)),
        Kind::DonationRefunded | Kind::DonationCorrected | Kind::EarmarkRedirected => {
            Some((event.kind(), m.donation))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::Envelope;
    use crate::time::EntryTime;
    use ed25519_dalek::SigningKey;

    #[test]
    fn a_log_refuses_entries_past_its_entry_limit_and_changes_nothing() {
        let admin = SigningKey::from_bytes(&[7; 32]);
        let key = hex::encode(admin.verifying_key().as_bytes());
        let body = serde_json::json!({"v": 1, "kind": "ledger.genesis", "id": "genesis-1",
            "at": "2026-01-01T00:00:00Z", "origin": "test.example/ledger", "name": "n", "currency": "CNY",
            "admins": [key], "log_key": key,
            "policy": {"dual_control_fen": 100, "min_audit_permille": 100, "max_backdate_days": 30}});
        let envelope =
            Envelope::sign(&serde_json::to_vec(&body).expect("json"), &[&admin]).verify().expect("signed");
        let time = EntryTime::from_unix_ms(1_767_225_600_000).expect("time");
        let mut state = State { size: LOG_ENTRIES_MAX, ..State::new() };
        let entry = VerifiedEntry::new(LOG_ENTRIES_MAX, state.last_leaf(), time, envelope).expect("entry");
        let refusal = state.apply(&entry).expect_err("past the limit");
        assert_eq!(refusal.rule, Rule::TooLarge, "{}", refusal.message);
        assert_eq!((state.size(), state.entries.len()), (LOG_ENTRIES_MAX, 0));
    }
}
