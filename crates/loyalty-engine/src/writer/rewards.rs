//! The mall and lottery arms of a batch: redeeming a reward, moving a redemption (shipped,
//! delivered, cancelled with its points given back) and drawing. Stock, budgets and per-member
//! limits are decided here, on the rows the batch's transaction holds, and the points move in
//! the same transaction, so nothing is oversold and nothing is charged without its item.
//! Every fallible step runs on copies first; the loaded state changes only once all passed.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::{self, Channel, Coupon, Holder};
use loyalty_core::ids::{derived_id, CouponId, DrawId, LotteryId, MemberId, RedemptionId, TemplateId};
use loyalty_core::ledger::{MemberStatus, SourceKind};
use loyalty_core::rewards::redemption::take_stock;
use loyalty_core::rewards::{
    self, Move, Moved, PrizeInput, PrizeItem, Redemption, RedemptionRequest, RedemptionStatus, RewardItem,
};
use loyalty_core::{DomainError, Program};
use loyalty_store::rewards::{LotteryCounts, RewardLoad, RewardState};
use std::collections::HashMap;

/// Coupons `ids` of `template` issued through the points channel, on copies: for each, the
/// template with its count moved so far, the coupon and its entry. Each unit counts against
/// the stock and the member's limits after the ones before it.
fn issue_on_copy(
    l: &Loaded,
    program: &Program,
    (member, holder): (&MemberId, &Holder<'_>),
    (template, ids): (&TemplateId, &[CouponId]),
    now: Timestamp,
) -> Result<Vec<(coupons::Template, Coupon, coupons::CouponEntry)>, DomainError> {
    let mut tpl =
        l.templates.get(template).cloned().ok_or_else(|| DomainError::TemplateNotFound(template.to_string()))?;
    let mut held: Vec<Coupon> =
        l.coupons.get(member).into_iter().flatten().filter(|c| &c.template_id == template).cloned().collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (c, e) = coupons::issue(program, &mut tpl, &held, holder, (member, id, Channel::Points), now)?;
        held.push(c.clone());
        out.push((tpl.clone(), c, e));
    }
    Ok(out)
}

/// Puts coupons issued on copies into the batch: their templates, the coupons, their entries.
fn keep_coupons(l: &mut Loaded, t: &mut Touched, issued: Vec<(coupons::Template, Coupon, coupons::CouponEntry)>) {
    for (tpl, c, e) in issued {
        t.issued.push(tpl.id.clone());
        l.templates.insert(tpl.id.clone(), tpl);
        t.changes.coupon_entries.push(e);
        l.coupons.entry(c.member_id.clone()).or_default().push(c);
    }
}

fn holder_of(m: &loyalty_store::MemberRecord, now: Timestamp) -> (String, bool, bool) {
    let paid = m.plan.as_ref().is_some_and(|c| c.applies_at(now));
    (m.account.tier().code.clone(), m.account.status() == MemberStatus::Active, paid)
}

/// Redeems (or replays) the member's request.
pub(crate) fn redeem(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    req: &RedemptionRequest,
    now: Timestamp,
) -> Reply {
    let mine = l.redemptions.get(member).map(Vec::as_slice).unwrap_or_default();
    if let Some(r) = mine.iter().find(|r| r.redemption_id == req.id) {
        let differences = r.differences(req);
        if differences.is_empty() {
            let redemption = r.clone();
            let balances = existing(l, member)?.account.buckets();
            return Ok(Outcome::Redemption { redemption, balances, replayed: true });
        }
        return Err(DomainError::Conflict { what: "redemption".into(), id: req.id.to_string(), differences });
    }
    let mut reward =
        l.rewards.get(&req.reward).cloned().ok_or_else(|| DomainError::RewardNotFound(req.reward.to_string()))?;
    let of_reward: Vec<Redemption> = mine.iter().filter(|r| r.reward_id == req.reward).cloned().collect();
    let m = existing(l, member)?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    let (tier, active, paid) = holder_of(m, now);
    let facts = l.insight.get(member).cloned();
    let holder = Holder { tier: &tier, active, insight: facts.as_ref(), paid };
    let mut red = rewards::redeem(program, &mut reward, &of_reward, &holder, (member, req), now)?;
    let mut issued = Vec::new();
    if let RewardItem::Coupon { .. } = &reward.terms.item {
        let template = reward.template().expect("validated template id");
        let ids: Vec<CouponId> = (0..req.quantity)
            .map(|i| CouponId::parse(&derived_id(&[req.id.as_str(), &i.to_string()])).expect("derived ids parse"))
            .collect();
        issued = issue_on_copy(l, program, (member, &holder), (&template, &ids), now)?;
        red.coupons = ids;
    }
    let m = existing(l, member)?;
    red.allocations =
        m.account.spend((SourceKind::Redemption, req.id.as_str()), loyalty_core::Points::new(red.points), now)?;
    let balances = m.account.buckets();
    keep_coupons(l, t, issued);
    t.redeemed.push((reward.id.clone(), req.quantity));
    l.rewards.insert(reward.id.clone(), reward);
    l.redemptions.entry(member.clone()).or_default().push(red.clone());
    Ok(Outcome::Redemption { redemption: red, balances, replayed: false })
}

/// Applies a move the store reports to the member's redemption; a cancellation gives its
/// points back to the lots they came from and its units back to the stock.
pub(crate) fn move_redemption(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    id: &RedemptionId,
    mv: &Move,
    now: Timestamp,
) -> Reply {
    let list = l.redemptions.get(member).map(Vec::as_slice).unwrap_or_default();
    let Some(i) = list.iter().position(|r| &r.redemption_id == id) else {
        return Err(DomainError::RedemptionNotFound(id.to_string()));
    };
    let mut red = list[i].clone();
    let moved = red.apply(mv, now)?;
    let m = existing(l, member)?;
    if moved == Moved::Already {
        return Ok(Outcome::Redemption { redemption: red, balances: m.account.buckets(), replayed: true });
    }
    catch_up(m, program, now);
    t.members.insert(member.clone());
    if red.status == RedemptionStatus::Cancelled {
        if red.points > 0 {
            m.account.restore((SourceKind::Redemption, id.as_str()), &red.allocations, now);
        }
        t.redeemed.push((red.reward_id.clone(), -red.quantity));
        if let Some(r) = l.rewards.get_mut(&red.reward_id) {
            r.redeemed -= red.quantity;
        }
    }
    let balances = existing(l, member)?.account.buckets();
    l.redemptions.get_mut(member).expect("found above")[i] = red.clone();
    Ok(Outcome::Redemption { redemption: red, balances, replayed: false })
}

/// Whether each prize of the lottery can be given to the member now (before the draw).
fn givable(
    l: &Loaded,
    program: &Program,
    (member, holder): (&MemberId, &Holder<'_>),
    prizes: &[PrizeInput],
    draw: &DrawId,
    now: Timestamp,
) -> Vec<Result<(), String>> {
    let acc = &l.members.get(member).expect("loaded").account;
    prizes
        .iter()
        .map(|p| match &p.item {
            PrizeItem::Points { points } => {
                acc.check_credit("points", loyalty_core::Points::new(*points)).map_err(|e| e.to_string())
            }
            PrizeItem::Coupon { template } => {
                let template = TemplateId::parse(template).map_err(|e| e.0)?;
                let id = prize_coupon(draw);
                issue_on_copy(l, program, (member, holder), (&template, std::slice::from_ref(&id)), now)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            PrizeItem::Goods { reward } => {
                let r = loyalty_core::ids::RewardId::parse(reward).ok().and_then(|id| l.rewards.get(&id));
                match r {
                    None => Err(format!("reward {reward} does not exist")),
                    Some(r) if r.left().is_some_and(|left| left < 1) => Err(format!("reward {reward} is out of stock")),
                    Some(_) => Ok(()),
                }
            }
            PrizeItem::Nothing => Ok(()),
        })
        .collect()
}

fn prize_coupon(draw: &DrawId) -> CouponId {
    CouponId::parse(&derived_id(&["draw", draw.as_str()])).expect("derived ids parse")
}

fn prize_redemption(draw: &DrawId) -> RedemptionId {
    RedemptionId::parse(&derived_id(&["draw", draw.as_str()])).expect("derived ids parse")
}

/// Draws (or replays) the member's draw of the lottery.
pub(crate) fn draw(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    (member, lottery, id): (&MemberId, &LotteryId, &DrawId),
    now: Timestamp,
) -> Reply {
    let mine = l.draws.get(member).map(Vec::as_slice).unwrap_or_default();
    if let Some(d) = mine.iter().find(|d| &d.draw_id == id) {
        if &d.lottery_id != lottery {
            return Err(DomainError::Conflict {
                what: "draw".into(),
                id: id.to_string(),
                differences: vec!["lottery".into()],
            });
        }
        let d = d.clone();
        let balances = existing(l, member)?.account.buckets();
        return Ok(Outcome::Draw { draw: d, balances, replayed: true });
    }
    let mut lot = l.lotteries.get(lottery).cloned().ok_or_else(|| DomainError::LotteryNotFound(lottery.to_string()))?;
    let day = loyalty_core::calendar::period_starts(program, now)[0].1;
    let today = mine.iter().filter(|d| &d.lottery_id == lottery && d.at >= day).count() as i64;
    let m = existing(l, member)?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    let (tier, active, paid) = holder_of(m, now);
    if !active {
        return Err(DomainError::MemberInactive { member: member.to_string(), status: m.account.status().to_string() });
    }
    let facts = l.insight.get(member).cloned();
    let holder = Holder { tier: &tier, active, insight: facts.as_ref(), paid };
    let can = givable(l, program, (member, &holder), &lot.terms.prizes, id, now);
    let prizes = lot.terms.prizes.clone();
    let of = |p: &PrizeInput| prizes.iter().position(|q| q.id == p.id).expect("a prize of the lottery");
    let mut d = lot.draw(program, (member, id), today, |p| can[of(p)].clone(), now)?;
    let prize = lot.prize(&d.prize).expect("the prize given is the lottery's").clone();
    // The coupon or goods of the prize, on copies (checked givable above, so they succeed).
    let mut issued = Vec::new();
    let mut won: Option<(loyalty_core::rewards::Reward, Redemption)> = None;
    match &prize.item {
        PrizeItem::Coupon { template } => {
            let template = TemplateId::parse(template).expect("validated");
            let cid = prize_coupon(id);
            issued = issue_on_copy(l, program, (member, &holder), (&template, std::slice::from_ref(&cid)), now)?;
            d.coupon = Some(cid);
        }
        PrizeItem::Goods { reward } => {
            let rid = loyalty_core::ids::RewardId::parse(reward).expect("validated");
            let mut r = l.rewards.get(&rid).cloned().ok_or_else(|| DomainError::RewardNotFound(rid.to_string()))?;
            take_stock(&mut r, 1)?;
            let red = Redemption {
                member_id: member.clone(),
                redemption_id: prize_redemption(id),
                reward_id: rid,
                quantity: 1,
                points: 0,
                cash_minor: 0,
                item: r.terms.item.clone(),
                status: RedemptionStatus::Pending,
                address: None,
                tracking: None,
                allocations: Vec::new(),
                coupons: Vec::new(),
                draw: Some(id.clone()),
                created_at: now,
                updated_at: now,
                dirty: true,
            };
            d.redemption = Some(red.redemption_id.clone());
            won = Some((r, red));
        }
        PrizeItem::Points { .. } | PrizeItem::Nothing => {}
    }
    let m = existing(l, member)?;
    // Both checks before the spend changes the account: a refusal after it would leave a
    // spend without its draw. The credit is checked on the balance before the spend, which
    // the spend only lowers.
    if let PrizeItem::Points { points } = prize.item {
        m.account.check_credit("points", loyalty_core::Points::new(points))?;
    }
    if d.points_spent > 0 {
        m.account.spend((SourceKind::Draw, id.as_str()), loyalty_core::Points::new(d.points_spent), now)?;
    }
    if let PrizeItem::Points { points } = prize.item {
        m.account.earn_now(program, (SourceKind::Draw, id.as_str()), loyalty_core::Points::new(points), now);
    }
    let balances = m.account.buckets();
    keep_coupons(l, t, issued);
    if let Some((r, red)) = won {
        t.redeemed.push((r.id.clone(), 1));
        l.rewards.insert(r.id.clone(), r);
        l.redemptions.entry(member.clone()).or_default().push(red);
    }
    t.draws.push((lottery.clone(), d.prize.clone(), d.cost_minor));
    l.lotteries.insert(lottery.clone(), lot);
    l.draws.entry(member.clone()).or_default().push(d.clone());
    t.changes.draws.push(d.clone());
    Ok(Outcome::Draw { draw: d, balances, replayed: false })
}

/// Moves the batch's mall and lottery changes into `changes`: redemptions that changed, the
/// units each reward's stock moved by, and each lottery's counts.
pub(crate) fn take_reward_changes(l: &mut Loaded, t: &mut Touched) {
    let mut ids: Vec<&MemberId> = l.redemptions.keys().collect();
    ids.sort();
    for id in ids {
        for r in l.redemptions.get(id).into_iter().flatten().filter(|r| r.dirty) {
            let mut r = r.clone();
            r.dirty = false;
            t.changes.redemptions.push(r);
        }
    }
    let mut by_reward: HashMap<loyalty_core::ids::RewardId, i64> = HashMap::new();
    for (r, n) in t.redeemed.drain(..) {
        *by_reward.entry(r).or_default() += n;
    }
    let mut redeemed: Vec<_> = by_reward.into_iter().filter(|(_, n)| *n != 0).collect();
    redeemed.sort();
    t.changes.rewards_redeemed = redeemed;
    let mut counts: Vec<LotteryCounts> = Vec::new();
    t.draws.sort();
    for (lottery, prize, cost) in t.draws.drain(..) {
        if counts.last().is_none_or(|c| c.lottery != lottery) {
            counts.push(LotteryCounts { lottery: lottery.clone(), draws: 0, spent_minor: 0, given: Vec::new() });
        }
        let c = counts.last_mut().expect("pushed");
        c.draws += 1;
        c.spent_minor += cost;
        match c.given.last_mut() {
            Some((p, n)) if *p == prize => *n += 1,
            _ => c.given.push((prize, 1)),
        }
    }
    t.changes.lottery_counts = counts;
}

/// What the batch's mall and lottery commands read, in two steps: the catalogue items,
/// lotteries, redemptions and draws they name; then the rewards their prizes name and the
/// lots a cancellation gives points back to. Returns the state and, per member, the coupon
/// templates their redemptions and prizes may issue from (loaded with the coupons).
pub(crate) async fn load_reward_state(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    members: &mut HashMap<MemberId, loyalty_store::MemberRecord>,
    now: Timestamp,
) -> Result<(RewardState, Vec<(MemberId, TemplateId)>), loyalty_store::StoreError> {
    let mut want = RewardLoad::default();
    let day = loyalty_core::calendar::period_starts(program, now)[0].1;
    for c in cmds {
        match c {
            Command::Redeem { member, request } => {
                want.rewards.push(request.reward.clone());
                want.redemptions.push((member.clone(), vec![request.reward.clone()], vec![request.id.clone()]));
            }
            Command::MoveRedemption { member, redemption, .. } => {
                want.redemptions.push((member.clone(), Vec::new(), vec![redemption.clone()]))
            }
            Command::Draw { member, lottery, draw } => {
                want.lotteries.push(lottery.clone());
                want.draws.push((member.clone(), lottery.clone(), day, vec![draw.clone()]));
            }
            _ => {}
        }
    }
    if want.rewards.is_empty() && want.lotteries.is_empty() && want.redemptions.is_empty() {
        return Ok((RewardState::default(), Vec::new()));
    }
    let mut state = tx.load_rewards(&want).await?;
    let mut more = RewardLoad::default();
    let mut templates = Vec::new();
    for c in cmds {
        match c {
            Command::Draw { member, lottery, .. } => {
                for p in state.lotteries.get(lottery).map(|l| l.terms.prizes.as_slice()).unwrap_or_default() {
                    match &p.item {
                        PrizeItem::Goods { reward } => more.rewards.extend(loyalty_core::ids::RewardId::parse(reward)),
                        PrizeItem::Coupon { template } => {
                            templates.extend(TemplateId::parse(template).ok().map(|t| (member.clone(), t)))
                        }
                        _ => {}
                    }
                }
            }
            Command::MoveRedemption { member, redemption, mv: Move::Cancel } => {
                let found =
                    state.redemptions.get(member).and_then(|v| v.iter().find(|r| &r.redemption_id == redemption));
                if let Some(r) = found {
                    more.lots.push((member.clone(), r.allocations.iter().map(|a| a.lot_no).collect()));
                }
            }
            Command::Redeem { member, request } => {
                if let Some(t) = state.rewards.get(&request.reward).and_then(|r| r.template()) {
                    templates.push((member.clone(), t));
                }
            }
            _ => {}
        }
    }
    more.rewards.retain(|r| !state.rewards.contains_key(r));
    if !more.rewards.is_empty() || !more.lots.is_empty() {
        let extra = tx.load_rewards(&more).await?;
        state.rewards.extend(extra.rewards);
        for (member, lots) in extra.lots {
            let Some(m) = members.get_mut(&member) else { continue };
            m.account.load_missing_lots(lots);
        }
    }
    Ok((state, templates))
}
