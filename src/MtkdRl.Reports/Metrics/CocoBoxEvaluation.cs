using MtkdRl.Core.Formats;

namespace MtkdRl.Reports.Metrics;

/// <summary>The COCO box summary: AP over IoU 0.50:0.05:0.95, AP at 0.50 and 0.75, recall at 100 detections (-1 where undefined).</summary>
public sealed record CocoSummary(double AP, double AP50, double AP75, double AR100);

/// <summary>
/// COCO bounding-box evaluation, step for step as the reference evaluation defines it (area range "all", the
/// categories of the ground truth, every image of the ground truth):
/// <list type="number">
/// <item>Per image and category: ground truths ordered with the crowd (ignored) ones last; detections sorted by
/// score, descending and stable (file order breaks ties), and cut at <see cref="MaxDetections"/>; an (image,
/// category) with neither is left out.</item>
/// <item>Per IoU threshold t: each detection in that order takes the unmatched ground truth of highest IoU &gt;= t
/// (a crowd one may take several; once a detection holds a regular one it does not move to a crowd one);
/// a detection matched to a crowd one is ignored. IoU of boxes as the reference computes it: intersection over
/// union, or over the detection's own area for a crowd ground truth; no +1 pixel.</item>
/// <item>Per category: every image's detections merged and sorted by score (stable, in image-id order), true
/// and false positives summed along, recall = TP / (regular ground truths), precision = TP / (TP + FP + eps);
/// precision made monotone from the right and sampled at recall 0, 0.01, ..., 1 (the first index whose recall
/// reaches each, 0 past the last). A category without regular ground truth is left out (-1).</item>
/// <item>AP is the mean of those 101-point precisions over thresholds and categories; AR100 the mean of the
/// final recalls; AP50 and AP75 at one threshold.</item>
/// </list>
/// </summary>
public static class CocoBoxEvaluation
{
    public const int MaxDetections = 100;

    /// <summary>IoU thresholds as the reference builds them: 0.5 + i (0.45 / 9), the last exactly 0.95.</summary>
    public static readonly double[] IouThresholds = Linspace(0.5, 0.95, 10);

    /// <summary>Recall sample points: i / 100 as the reference builds them, the last exactly 1.</summary>
    public static readonly double[] RecallThresholds = Linspace(0.0, 1.0, 101);

    private static readonly double Eps = Math.BitIncrement(1.0) - 1.0;

    private static double[] Linspace(double start, double stop, int n)
    {
        double step = (stop - start) / (n - 1);
        var y = new double[n];
        for (int i = 0; i < n; i++) y[i] = i * step + start;
        y[n - 1] = stop;
        return y;
    }

    /// <summary>The per-category precision [T, R] and recall [T] tables, -1 for a category without regular ground truth.</summary>
    public sealed record CategoryResult(long CategoryId, double[,] Precision, double[] Recall);

    public static CocoSummary Summarise(CocoInstances truth, IReadOnlyList<CocoDetection> detections) =>
        Summarise(Evaluate(truth, detections));

    public static CocoSummary Summarise(IReadOnlyList<CategoryResult> results)
    {
        int t = IouThresholds.Length, r = RecallThresholds.Length;
        double Mean(IEnumerable<double> values)
        {
            var kept = values.Where(v => v > -1).ToList();
            return kept.Count == 0 ? -1 : kept.Average();
        }
        IEnumerable<double> Precisions(int tFrom, int tTo) =>
            from c in results from ti in Enumerable.Range(tFrom, tTo - tFrom) from ri in Enumerable.Range(0, r) select c.Precision[ti, ri];
        int i75 = Array.FindIndex(IouThresholds, v => Math.Abs(v - 0.75) < 1e-12);
        return new CocoSummary(Mean(Precisions(0, t)), Mean(Precisions(0, 1)), Mean(Precisions(i75, i75 + 1)),
            Mean(from c in results from v in c.Recall select v));
    }

    /// <summary>One category's figures, as <see cref="Summarise(IReadOnlyList{CategoryResult})"/> gives them for that category alone.</summary>
    public sealed record CategorySummary(long CategoryId, string Name, int Objects, CocoSummary Summary);

    /// <summary>
    /// Per category of <paramref name="truth"/> (id order): its regular (non-crowd) objects and its AP, AP50, AP75,
    /// AR100 (-1 where it has no regular object). <see cref="Summarise(IReadOnlyList{CategoryResult})"/> over every
    /// category is the mean of these, category by category.
    /// </summary>
    public static IReadOnlyList<CategorySummary> PerCategory(CocoInstances truth, IReadOnlyList<CocoDetection> detections)
    {
        var names = truth.Categories.ToDictionary(c => c.Id, c => c.Name);
        var objects = truth.Annotations.Where(a => a.IsCrowd == 0).GroupBy(a => a.CategoryId).ToDictionary(g => g.Key, g => g.Count());
        return [.. Evaluate(truth, detections).Select(r => new CategorySummary(r.CategoryId, names[r.CategoryId],
            objects.GetValueOrDefault(r.CategoryId), Summarise([r])))];
    }

    /// <summary>
    /// The figures with every object and every detection put in one category: how well the detections find and
    /// place the objects whatever class they name. Detections keep their scores and are matched as they are (a
    /// detector's class-wise NMS can leave two boxes of one object under two classes: one of them then counts as a
    /// duplicate here).
    /// </summary>
    public static CocoSummary ClassAgnostic(CocoInstances truth, IReadOnlyList<CocoDetection> detections)
    {
        const long one = 1;
        var merged = new CocoInstances(truth.Images, [.. truth.Annotations.Select(a => a with { CategoryId = one })],
            [new CocoCategory(one, "object")]);
        return Summarise(merged, [.. detections.Select(d => d with { CategoryId = one })]);
    }

    /// <summary>Evaluates every category of <paramref name="truth"/>, in id order.</summary>
    public static IReadOnlyList<CategoryResult> Evaluate(CocoInstances truth, IReadOnlyList<CocoDetection> detections)
    {
        var imageIds = truth.Images.Select(i => i.Id).OrderBy(id => id).ToArray();
        var gtBy = truth.Annotations.GroupBy(a => (a.ImageId, a.CategoryId)).ToDictionary(g => g.Key, g => g.ToList());
        var dtBy = detections.GroupBy(d => (d.ImageId, d.CategoryId)).ToDictionary(g => g.Key, g => g.ToList());
        var results = new List<CategoryResult>();
        foreach (long category in truth.Categories.Select(c => c.Id).OrderBy(id => id))
        {
            var perImage = new List<ImageMatches>();
            foreach (long image in imageIds)
            {
                var gt = gtBy.GetValueOrDefault((image, category)) ?? [];
                var dt = dtBy.GetValueOrDefault((image, category)) ?? [];
                if (gt.Count == 0 && dt.Count == 0) continue;
                perImage.Add(Match(gt, dt));
            }
            results.Add(Accumulate(category, perImage));
        }
        return results;
    }

    /// <summary>One image and category: detection scores in evaluation order, per threshold matched / ignored flags, and the ground truths' ignore flags.</summary>
    private sealed record ImageMatches(double[] Scores, bool[,] Matched, bool[,] Ignored, bool[] GtIgnored);

    private static ImageMatches Match(List<CocoAnnotation> gtAll, List<CocoDetection> dtAll)
    {
        // Regular ground truths first, crowd ones last (a stable sort, as the reference's mergesort).
        var gt = gtAll.Where(g => g.IsCrowd == 0).Concat(gtAll.Where(g => g.IsCrowd != 0)).ToList();
        var order = Enumerable.Range(0, dtAll.Count).OrderByDescending(i => dtAll[i].Score).ThenBy(i => i).Take(MaxDetections).ToList();
        var dt = order.Select(i => dtAll[i]).ToList();
        int nt = IouThresholds.Length, nd = dt.Count, ng = gt.Count;
        var gtIgnored = gt.Select(g => g.IsCrowd != 0).ToArray();
        var ious = new double[nd, ng];
        for (int d = 0; d < nd; d++)
            for (int g = 0; g < ng; g++)
                ious[d, g] = BoxIou(dt[d].Bbox, gt[g].Bbox, gt[g].IsCrowd != 0);
        var matched = new bool[nt, nd];
        var ignored = new bool[nt, nd];
        var gtTaken = new bool[nt, ng];
        for (int t = 0; t < nt; t++)
        {
            for (int d = 0; d < nd; d++)
            {
                double best = Math.Min(IouThresholds[t], 1 - 1e-10);
                int m = -1;
                for (int g = 0; g < ng; g++)
                {
                    if (gtTaken[t, g] && !gtIgnored[g]) continue;
                    if (m > -1 && !gtIgnored[m] && gtIgnored[g]) break;
                    if (ious[d, g] < best) continue;
                    best = ious[d, g];
                    m = g;
                }
                if (m == -1) continue;
                ignored[t, d] = gtIgnored[m];
                // The reference records the match as the ground truth's id and counts a detection as matched when
                // that id is non-zero: an annotation with id 0 never yields a true positive there, nor here.
                matched[t, d] = gt[m].Id != 0;
                gtTaken[t, m] = true;
            }
        }
        return new ImageMatches(dt.Select(x => x.Score).ToArray(), matched, ignored, gtIgnored);
    }

    /// <summary>
    /// IoU of two [x, y, w, h] boxes; for a crowd ground truth the intersection over the detection's area.
    /// </summary>
    public static double BoxIou(double[] dt, double[] gt, bool crowd)
    {
        double w = Math.Min(dt[0] + dt[2], gt[0] + gt[2]) - Math.Max(dt[0], gt[0]);
        if (w <= 0) return 0;
        double h = Math.Min(dt[1] + dt[3], gt[1] + gt[3]) - Math.Max(dt[1], gt[1]);
        if (h <= 0) return 0;
        double inter = w * h;
        double union = crowd ? dt[2] * dt[3] : dt[2] * dt[3] + gt[2] * gt[3] - inter;
        return inter / union;
    }

    private static CategoryResult Accumulate(long category, List<ImageMatches> images)
    {
        int nt = IouThresholds.Length, nr = RecallThresholds.Length;
        var precision = new double[nt, nr];
        var recall = new double[nt];
        int regular = images.Sum(e => e.GtIgnored.Count(ig => !ig));
        if (regular == 0)
        {
            for (int t = 0; t < nt; t++) { recall[t] = -1; for (int r = 0; r < nr; r++) precision[t, r] = -1; }
            return new CategoryResult(category, precision, recall);
        }
        // Every image's detections in image order, then one stable sort by score, as the reference concatenates and mergesorts.
        var all = new List<(double Score, int Image, int Index)>();
        for (int i = 0; i < images.Count; i++)
            for (int d = 0; d < images[i].Scores.Length; d++) all.Add((images[i].Scores[d], i, d));
        var sorted = all.Select((x, at) => (x, at)).OrderByDescending(p => p.x.Score).ThenBy(p => p.at).Select(p => p.x).ToList();
        int n = sorted.Count;
        for (int t = 0; t < nt; t++)
        {
            var rc = new double[n];
            var pr = new double[n];
            double tp = 0, fp = 0;
            for (int j = 0; j < n; j++)
            {
                var (_, img, d) = sorted[j];
                bool m = images[img].Matched[t, d], ig = images[img].Ignored[t, d];
                if (m && !ig) tp++;
                else if (!m && !ig) fp++;
                rc[j] = tp / regular;
                pr[j] = tp / (fp + tp + Eps);
            }
            recall[t] = n > 0 ? rc[n - 1] : 0;
            for (int j = n - 1; j > 0; j--)
                if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
            for (int r = 0; r < nr; r++)
            {
                int at = LowerBound(rc, RecallThresholds[r]);
                precision[t, r] = at < n ? pr[at] : 0;
            }
        }
        return new CategoryResult(category, precision, recall);
    }

    /// <summary>The first index whose value is >= <paramref name="x"/> (numpy's searchsorted, side left), n when none.</summary>
    private static int LowerBound(double[] sorted, double x)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < x) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
