"""DeepACEv2 losses: Faster R-CNN detection losses, the focal pull loss (Eq. 3), the push loss (Eq. 4-5) and the
Truncated Normalized Repulsion Loss (Eq. 7-8); `compute_losses` runs a training forward pass."""

import math

import torch
import torch.nn.functional as F

from .boxes import box_area, box_iou, decode, encode, paired_inter
from .model import flatten_rpn
from .sampling import anchor_categories_on_grid, sample_anchors, sample_rois


def smooth_ln(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Smooth_ln of the Repulsion Loss paper; sigma = 0 makes it the identity on [0, 1]."""
    if sigma <= 0:
        return x
    small = -torch.log((1 - x).clamp(min=1e-6))
    large = (x - sigma) / (1 - sigma) - math.log(1 - sigma)
    return torch.where(x <= sigma, small, large)


def truncated_iog(pred: torch.Tensor, target: torch.Tensor, repulsion: torch.Tensor) -> torch.Tensor:
    """Eq. 7-8, truncated at 0: (area(B∩R) - area(G∩R)) / (area(R) - area(G∩R)); 0 where G contains R."""
    g_r = paired_inter(target, repulsion)
    b_r = paired_inter(pred, repulsion)
    denom = box_area(repulsion) - g_r
    safe = denom > 1e-6
    val = torch.where(safe, (b_r - g_r) / torch.where(safe, denom, torch.ones_like(denom)), torch.zeros_like(denom))
    return val.clamp(min=0)


def tnrl(pred, target, repulsion, num_positive: int, sigma: float = 0.0) -> torch.Tensor:
    """L_TNRep (Eq. 7): sum of Smooth_ln(max(IOG', 0)) over positives with a repulsion box, over |P+|."""
    if pred.shape[0] == 0 or num_positive == 0:
        return pred.sum() * 0
    return smooth_ln(truncated_iog(pred, target, repulsion), sigma).sum() / num_positive


def pull_loss(emb: torch.Tensor, group: torch.Tensor, theta: float = 0.5, lam: float = 2.0):
    """Focal pull loss (Eq. 3): (1/N) sum_j sum_i (theta + ê)^lambda ê^2, ê = |e - mean of its ground truth|.

    Returns (sum, N) so that batches can be pooled; group holds the ground-truth index of each embedding.
    """
    if emb.numel() == 0:
        return emb.sum() * 0, 0
    uniq, inv = torch.unique(group, return_inverse=True)
    sums = torch.zeros(uniq.numel(), dtype=emb.dtype, device=emb.device).index_add(0, inv, emb)
    counts = torch.zeros(uniq.numel(), dtype=emb.dtype, device=emb.device).index_add(0, inv, torch.ones_like(emb))
    means = sums / counts
    e_hat = (emb - means[inv]).abs()
    return ((theta + e_hat) ** lam * e_hat ** 2).sum(), emb.numel()


def push_loss(emb: torch.Tensor, group: torch.Tensor, gt: torch.Tensor, delta: float = 1.0):
    """Push loss (Eq. 4-5): for each ground truth with embeddings whose repulsion ground truth (highest IoU with it,
    IoU > 0: isolated ones are skipped) also has embeddings: max(delta - |ē_g - ē_rep|, 0). Returns (sum, count)."""
    if emb.numel() == 0 or gt.shape[0] < 2:
        return emb.sum() * 0, 0
    iou = box_iou(gt, gt)
    iou.fill_diagonal_(-1)
    rep_iou, rep = iou.max(dim=1)
    g = gt.shape[0]
    sums = torch.zeros(g, dtype=emb.dtype, device=emb.device).index_add(0, group, emb)
    counts = torch.zeros(g, dtype=emb.dtype, device=emb.device).index_add(0, group, torch.ones_like(emb))
    has = counts > 0
    means = sums / counts.clamp(min=1)
    valid = has & (rep_iou > 0) & has[rep]
    if not bool(valid.any()):
        return emb.sum() * 0, 0
    i = torch.where(valid)[0]
    diff = means[i] - means[rep[i]]
    # |diff| with a non-zero gradient at diff == 0 (sign fixed by index order), so that exactly collapsed
    # embeddings still get pushed apart; the value equals Eq. 5.
    sign = torch.where(diff != 0, torch.sign(diff), torch.where(i < rep[i], 1.0, -1.0).to(diff.dtype)).detach()
    return torch.clamp(delta - sign * diff, min=0).sum(), int(i.numel())


def compute_losses(model, images: torch.Tensor, sizes, targets, gen=None) -> dict:
    """Training forward: images (N,1,Hp,Wp) normalized, sizes [(h,w)], targets [gt boxes (G,4)] in input pixels."""
    cfg = model.cfg
    lc = cfg["losses"]
    rc = cfg["rpn"]
    bh = cfg["box_head"]
    beta = lc["smooth_l1_beta"]
    device = images.device
    _, _, _, p3 = model.features(images)
    logits_map, deltas_map = model.rpn(p3)
    logits, deltas = flatten_rpn(logits_map.float(), deltas_map.float())
    anchors = model.anchors_for(p3)
    n = images.shape[0]

    obj_losses, reg_losses, sampled_total = [], [], 0
    rois, labels, matched_all, bidx, iou_rows, offsets = [], [], [], [], [], []
    gt_offset = 0
    for i in range(n):
        gt = targets[i].to(device)
        matched, pos, hard, easy = anchor_categories_on_grid(model.base_anchors.to(device), p3.shape[-2], p3.shape[-1],
                                                             cfg["anchors"]["stride"], gt, rc["sampler"])
        p, ng = sample_anchors(pos, hard, easy, rc["sampler"], rc["batch_size"], rc["positive_fraction"], gen)
        idx = torch.cat([p, ng])
        lab = torch.cat([torch.ones(p.numel()), torch.zeros(ng.numel())]).to(device)
        obj_losses.append(F.binary_cross_entropy_with_logits(logits[i, idx], lab, reduction="sum"))
        sampled_total += idx.numel()
        if p.numel():
            tgt = encode(gt[matched[p]], anchors[p], rc["bbox_weights"])
            reg_losses.append(F.smooth_l1_loss(deltas[i, p], tgt, beta=beta, reduction="sum"))
        with torch.no_grad():
            props, _ = model.proposals(logits[i].detach().float(), deltas[i].detach().float(), anchors, sizes[i],
                                       training=True)
        r, lab_r, m_r, iou_r = sample_rois(props, gt, bh["batch_size"], bh["positive_fraction"], bh["fg_iou"], gen)
        rois.append(r)
        labels.append(lab_r)
        matched_all.append(m_r + gt_offset)
        bidx.append(torch.full((r.shape[0],), i, dtype=torch.long, device=device))
        iou_rows.append(iou_r)
        offsets.append(gt_offset)
        gt_offset += gt.shape[0]
    sampled_total = max(sampled_total, 1)
    loss_rpn_cls = torch.stack(obj_losses).sum() / sampled_total
    loss_rpn_box = (torch.stack(reg_losses).sum() if reg_losses else p3.sum() * 0) / sampled_total

    rois_t = torch.cat(rois)
    labels_t = torch.cat(labels)
    matched_t = torch.cat(matched_all)
    bidx_t = torch.cat(bidx)
    all_gt = torch.cat([t.to(device) for t in targets]) if gt_offset else rois_t.new_zeros((0, 4))
    feats, cls, bbox, emb = model.roi_forward(p3, rois_t, bidx_t)
    cls = cls.float()
    bbox = bbox.float()
    loss_cls = F.cross_entropy(cls, labels_t)
    fg = torch.where(labels_t == 1)[0]
    num_rois = max(labels_t.numel(), 1)
    if emb is not None:
        with torch.no_grad():  # read by the training loop's template_revival check
            model.template_foreground_peaks = model.roi_heads.template.conv(feats[fg].float()).amax(dim=(1, 2, 3))
    out = {"rpn_cls": loss_rpn_cls, "rpn_box": loss_rpn_box, "cls": loss_cls}
    if fg.numel():
        tgt = encode(all_gt[matched_t[fg]], rois_t[fg], bh["bbox_weights"])
        out["box"] = F.smooth_l1_loss(bbox[fg, 4:8], tgt, beta=beta, reduction="sum") / num_rois
    else:
        out["box"] = bbox.sum() * 0

    if lc.get("tnrl", True):
        preds, tg, rp = [], [], []
        start = 0
        for i in range(n):
            k = rois[i].shape[0]
            lab = labels[i]
            f = torch.where(lab == 1)[0]
            if f.numel() and iou_rows[i] is not None and iou_rows[i].shape[1] >= 2:
                iou = iou_rows[i][f].clone()
                local = matched_all[i][f] - offsets[i]
                iou[torch.arange(f.numel()), local] = -1
                rep_iou, rep = iou.max(dim=1)
                ok = rep_iou > 0
                if ok.any():
                    ff = f[ok]
                    pb = decode(bbox[start + ff, 4:8], rois[i][ff], bh["bbox_weights"])
                    preds.append(pb)
                    tg.append(all_gt[matched_all[i][ff]])
                    rp.append(all_gt[rep[ok] + offsets[i]])
            start += k
        if preds:
            out["tnrl"] = lc["gamma"] * tnrl(torch.cat(preds), torch.cat(tg), torch.cat(rp), fg.numel(),
                                             lc["tnrl_smooth_sigma"])
        else:
            out["tnrl"] = bbox.sum() * 0
    if emb is not None:
        emb = emb.float()
        pull_sum, pull_n, push_sum, push_n = emb.sum() * 0, 0, emb.sum() * 0, 0
        for i in range(n):
            sel = torch.where((labels_t == 1) & (bidx_t == i))[0]
            if sel.numel() == 0:
                continue
            grp = matched_t[sel] - offsets[i]
            s, c = pull_loss(emb[sel], grp, lc["theta"], lc["lambda"])
            pull_sum, pull_n = pull_sum + s, pull_n + c
            s, c = push_loss(emb[sel], grp, targets[i].to(device), lc["delta"])
            push_sum, push_n = push_sum + s, push_n + c
        out["pull"] = lc["alpha"] * pull_sum / max(pull_n, 1)
        out["push"] = lc["beta"] * push_sum / max(push_n, 1)
    out["total"] = sum(out.values())
    return out
