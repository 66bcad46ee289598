using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Reports.Metrics;
using MtkdRl.Tests.Data;

namespace MtkdRl.Tests.Metrics;

/// <summary>COCO box AP against cases computed by hand, each written out in its comment.</summary>
public class CocoBoxEvaluationTests
{
    private static readonly double[] Square = [0, 0, 10, 10];

    private static CocoInstances Truth(int images, int categories, params (long Image, long Category, double[] Box, int Crowd)[] objects) =>
        new([.. Enumerable.Range(1, images).Select(i => new CocoImage(i, $"{i}.png", 64, 64))],
            [.. objects.Select((o, i) => new CocoAnnotation(i + 1, o.Image, o.Category, o.Box, o.Box[2] * o.Box[3], o.Crowd))],
            [.. Enumerable.Range(1, categories).Select(c => new CocoCategory(c, $"class {c}"))]);

    private static CocoDetection Det(long image, long category, double[] box, double score) => new(image, category, box, score);

    private static void AssertSummary(CocoSummary got, double ap, double ap50, double ap75, double ar)
    {
        Assert.Equal(ap, got.AP, 12);
        Assert.Equal(ap50, got.AP50, 12);
        Assert.Equal(ap75, got.AP75, 12);
        Assert.Equal(ar, got.AR100, 12);
    }

    [Fact]
    public void A_perfect_detection_scores_one_everywhere() =>
        AssertSummary(CocoBoxEvaluation.Summarise(Truth(1, 1, (1, 1, Square, 0)), [Det(1, 1, Square, 0.9)]), 1, 1, 1, 1);

    [Fact]
    public void A_box_of_iou_078_counts_at_six_of_the_ten_thresholds()
    {
        // IoU = 78 / 100: a match at 0.50, 0.55, ..., 0.75 (6 thresholds), none at 0.80 .. 0.95.
        var got = CocoBoxEvaluation.Summarise(Truth(1, 1, (1, 1, Square, 0)), [Det(1, 1, [0, 0, 10, 7.8], 0.9)]);
        AssertSummary(got, 0.6, 1, 1, 0.6);
    }

    [Fact]
    public void Tied_scores_keep_image_order_and_a_duplicate_is_a_false_positive()
    {
        // Image 1: the object and two detections of it with the same score (the second is a duplicate, a false
        // positive); image 2: an object and a detection far from it (a false positive), also at score 0.9.
        // Stable order: TP, FP (image 1), FP (image 2). Two objects: recall 0.5, 0.5, 0.5; precision 1, 1/2, 1/3,
        // monotone from the right 1, 1/2, 1/3. Recall points 0.00 .. 0.50 (51 of 101) take precision 1, the rest 0.
        var truth = Truth(2, 1, (1, 1, Square, 0), (2, 1, Square, 0));
        CocoDetection[] dets = [Det(1, 1, Square, 0.9), Det(1, 1, Square, 0.9), Det(2, 1, [50, 50, 10, 10], 0.9)];
        double ap = 51.0 / 101;
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), ap, ap, ap, 0.5);
        // Had image 2's false positive come first (FP, TP, FP), precision would be 0.5 at every recall up to 0.5:
        // the tie order decides, so swapping the image ids changes the figure to 51 x 0.5 / 101.
        var swapped = Truth(2, 1, (2, 1, Square, 0), (1, 1, Square, 0));
        CocoDetection[] swappedDets = [Det(2, 1, Square, 0.9), Det(2, 1, Square, 0.9), Det(1, 1, [50, 50, 10, 10], 0.9)];
        double half = 51 * 0.5 / 101;
        AssertSummary(CocoBoxEvaluation.Summarise(swapped, swappedDets), half, half, half, 0.5);
    }

    [Fact]
    public void Images_without_objects_or_detections_and_a_class_without_ground_truth()
    {
        // Category 1: image 1 found (score 0.8), image 2 missed, image 3 has no object but a detection (0.9, a
        // false positive ranked first). Order: FP, TP; two objects. Recall 0, 0.5; precision 0, 1/2 -> monotone
        // 1/2, 1/2. Recall points 0 .. 0.50 take 0.5: AP = 51 x 0.5 / 101 at every threshold; recall 0.5.
        // Category 2 has detections but no ground truth: left out of every mean.
        var truth = Truth(3, 2, (1, 1, Square, 0), (2, 1, Square, 0));
        CocoDetection[] dets = [Det(1, 1, Square, 0.8), Det(3, 1, Square, 0.9), Det(1, 2, Square, 0.99), Det(2, 2, Square, 0.5)];
        double ap = 51 * 0.5 / 101;
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), ap, ap, ap, 0.5);
        var perClass = CocoBoxEvaluation.Evaluate(truth, dets);
        Assert.All(perClass[1].Recall, r => Assert.Equal(-1, r));
    }

    [Fact]
    public void Only_the_first_hundred_detections_of_an_image_count()
    {
        // 99 false positives at 0.9, then the true one at 0.5: the hit is the 100th, precision 1/100 at recall 1,
        // which monotonicity spreads to every recall point: AP = 0.01.
        var truth = Truth(1, 1, (1, 1, Square, 0));
        var dets = Enumerable.Range(0, 99).Select(i => Det(1, 1, [20 + i % 30, 20, 5, 5], 0.9)).Append(Det(1, 1, Square, 0.5)).ToList();
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), 0.01, 0.01, 0.01, 1);
        // One more false positive pushes the hit past the cut: nothing is found.
        dets.Insert(0, Det(1, 1, [40, 40, 5, 5], 0.95));
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), 0, 0, 0, 0);
    }

    [Fact]
    public void The_hundred_cut_is_per_image_and_category()
    {
        // 150 detections of category 2 (which has no ground truth) outscore the one of category 1 in the same
        // image. The reference cuts each (image, category) at 100, so category 1's hit still counts: AP 1. A cut
        // over the whole image would drop it and give 0.
        var truth = Truth(1, 2, (1, 1, Square, 0));
        var dets = Enumerable.Range(0, 150).Select(i => Det(1, 2, [20 + i % 30, 20, 5, 5], 0.99)).Append(Det(1, 1, Square, 0.5)).ToList();
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), 1, 1, 1, 1);
    }

    [Fact]
    public void An_image_without_any_detection_misses_its_objects_and_an_empty_image_counts_nothing()
    {
        // Image 1: its object found at 0.9; image 2: an object and no detection of any category; image 3: neither.
        // One TP over two objects: precision 1 up to recall 0.5, so 51 of the 101 recall points: AP = 51 / 101.
        var truth = Truth(3, 1, (1, 1, Square, 0), (2, 1, Square, 0));
        double ap = 51.0 / 101;
        AssertSummary(CocoBoxEvaluation.Summarise(truth, [Det(1, 1, Square, 0.9)]), ap, ap, ap, 0.5);
    }

    [Fact]
    public void Detections_on_a_crowd_region_are_ignored_not_false()
    {
        // A regular object found at 0.9; two detections inside a crowd region (IoU over the detection's own area
        // is 1) at 0.8 and 0.7 match the crowd and are ignored: AP 1. Without the crowd flag they are false
        // positives after the hit, which leaves AP at 1 too, so the crowd is placed first by score to matter:
        var truth = Truth(1, 1, (1, 1, Square, 0), (1, 1, [100, 100, 50, 50], 1));
        CocoDetection[] dets = [Det(1, 1, [110, 110, 10, 10], 0.95), Det(1, 1, Square, 0.9), Det(1, 1, [120, 120, 5, 5], 0.8)];
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), 1, 1, 1, 1);
        // The same region as a regular object: both small boxes are false positives (IoU 0.04 and 0.01 with it),
        // order FP, TP, FP with two objects: precision 0, 1/2, 1/3 -> 1/2, 1/2, 1/3; recall 0, 0.5, 0.5.
        var regular = Truth(1, 1, (1, 1, Square, 0), (1, 1, [100, 100, 50, 50], 0));
        double ap = 51 * 0.5 / 101;
        AssertSummary(CocoBoxEvaluation.Summarise(regular, dets), ap, ap, ap, 0.5);
    }

    [Fact]
    public void Box_iou_has_no_extra_pixel_and_divides_by_the_detection_for_a_crowd()
    {
        Assert.Equal(25.0 / 175, CocoBoxEvaluation.BoxIou([5, 5, 10, 10], Square, crowd: false), 15);
        Assert.Equal(0.25, CocoBoxEvaluation.BoxIou([5, 5, 10, 10], Square, crowd: true), 15);
        Assert.Equal(0, CocoBoxEvaluation.BoxIou([10, 0, 10, 10], Square, crowd: false));
    }

    [Fact]
    public void Files_round_trip_and_bad_ones_are_one_line_errors()
    {
        using var temp = new TempFolder();
        string gt = temp.File("instances.json"), res = temp.File("results.json");
        File.WriteAllText(gt, """
            {"images":[{"id":1,"file_name":"a.png","width":64,"height":64}],
             "annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,10,10],"area":100,"iscrowd":0}],
             "categories":[{"id":1,"name":"T-shirt/top"}]}
            """);
        var truth = CocoFiles.ReadInstances(gt);
        CocoFiles.WriteDetections(res, [Det(1, 1, Square, 0.75)]);
        Assert.Contains("\"image_id\":1", File.ReadAllText(res));
        Assert.Equal(1, CocoBoxEvaluation.Summarise(truth, CocoFiles.ReadDetections(res, truth)).AP, 12);

        foreach (var (text, expected) in new[]
        {
            ("[{\"image_id\":7,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]", "names image 7, which the ground truth does not hold"),
            ("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1],\"score\":1}]", "bbox must be [x, y, w, h]"),
            ("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,-1,1],\"score\":1}]", "w, h >= 0"),
            ("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1]}]", "lacks a number 'score'"),
            ("{\"image_id\":1}", "a COCO results file is a JSON list"),
            ("[1,", "not a valid COCO results file"),
        })
        {
            File.WriteAllText(res, text);
            var e = Assert.Throws<MtkdInputException>(() => CocoFiles.ReadDetections(res, truth));
            Assert.StartsWith(res + ": ", e.Message);
            Assert.Contains(expected, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        File.WriteAllText(gt, "{\"images\":[],\"annotations\":[{\"id\":1,\"image_id\":3,\"category_id\":1,\"bbox\":[0,0,1,1]}],\"categories\":[]}");
        Assert.Contains("names image 3", Assert.Throws<MtkdInputException>(() => CocoFiles.ReadInstances(gt)).Message);
    }

    [Fact]
    public void Per_category_figures_are_each_category_alone_and_average_to_the_summary()
    {
        // Category 1: its one object found exactly (AP 1 at every threshold, recall 1). Category 2: two objects, one
        // found at IoU 0.78 (6 of 10 thresholds) with score 0.9 and a false positive at 0.8 after it: recall 0.5 at
        // those 6 thresholds, precision 1 up to it: 51/101 each, AP = 6 x 51/101 / 10, AR = 0.3. Category 3: no
        // object and one detection: left out (-1), as in the summary.
        var truth = Truth(2, 3, (1, 1, Square, 0), (1, 2, [20, 20, 10, 10], 0), (2, 2, Square, 0));
        CocoDetection[] dets =
        [
            Det(1, 1, Square, 0.7), Det(2, 2, [0, 0, 10, 7.8], 0.9), Det(1, 2, [40, 40, 5, 5], 0.8), Det(1, 3, Square, 0.6),
        ];
        var per = CocoBoxEvaluation.PerCategory(truth, dets);
        Assert.Equal([1L, 2L, 3L], per.Select(c => c.CategoryId));
        Assert.Equal(["class 1", "class 2", "class 3"], per.Select(c => c.Name));
        Assert.Equal([1, 2, 0], per.Select(c => c.Objects));
        AssertSummary(per[0].Summary, 1, 1, 1, 1);
        double half = 51.0 / 101;
        AssertSummary(per[1].Summary, 6 * half / 10, half, half, 0.3);
        AssertSummary(per[2].Summary, -1, -1, -1, -1);
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), (1 + 6 * half / 10) / 2, (1 + half) / 2, (1 + half) / 2, 0.65);
    }

    [Fact]
    public void Merging_the_classes_counts_a_well_placed_box_of_the_wrong_class()
    {
        // One object of category 1, found exactly but named category 2, and a second object of category 2 missed.
        // By class: category 1 has no true positive (AP 0, recall 0), category 2 a false positive and a miss (0).
        // Merged: the box matches the first object (precision 1 up to recall 0.5: 51/101 at every threshold) and the
        // second object stays unfound (recall 0.5).
        var truth = Truth(2, 2, (1, 1, Square, 0), (2, 2, Square, 0));
        CocoDetection[] dets = [Det(1, 2, Square, 0.9)];
        AssertSummary(CocoBoxEvaluation.Summarise(truth, dets), 0, 0, 0, 0);
        double half = 51.0 / 101;
        AssertSummary(CocoBoxEvaluation.ClassAgnostic(truth, dets), half, half, half, 0.5);
    }
}

/// <summary>`mtkd eval --score-detections` through the CLI.</summary>
[Collection("console")]
public class CocoEvalCliTests
{
    [Fact]
    public void Eval_scores_a_results_file_and_writes_the_json_summary()
    {
        using var temp = new TempFolder();
        string scenes = temp.Sub("scenes"), res = temp.File("results.json"), json = temp.File("ap.json");
        Directory.CreateDirectory(scenes);
        File.WriteAllText(Path.Combine(scenes, "instances_test.json"), """
            {"images":[{"id":1,"width":64,"height":64},{"id":2,"width":64,"height":64}],
             "annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,10,10],"area":100,"iscrowd":0},
                            {"id":2,"image_id":2,"category_id":1,"bbox":[0,0,10,10],"area":100,"iscrowd":0}],
             "categories":[{"id":1,"name":"a"}]}
            """);
        File.WriteAllText(res, """[{"image_id":1,"category_id":1,"bbox":[0,0,10,7.8],"score":0.9}]""");
        var run = MtkdRl.Tests.Cli.CliRun.Run("eval", "--data", scenes, "--score-detections", res, "--json", json);
        MtkdRl.Tests.Cli.CliRun.AssertOk(run);
        // One of two objects found at IoU 0.78: recall 0.5 at 6 of 10 thresholds, precision 1 up to it.
        Assert.Contains("AP 0.3030  AP50 0.5050  AP75 0.5050  AR100 0.3000", run.Out);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(6 * 51.0 / 101 / 10, doc.RootElement.GetProperty("AP").GetDouble(), 12);
        Assert.Equal(0.3, doc.RootElement.GetProperty("AR100").GetDouble(), 12);

        var detail = MtkdRl.Tests.Cli.CliRun.Run("eval", "--data", scenes, "--score-detections", res, "--detail");
        MtkdRl.Tests.Cli.CliRun.AssertOk(detail);
        Assert.Matches(@"1\s*│\s*a\s*│\s*2\s*│\s*0\.3030\s*│\s*0\.5050\s*│\s*0\.5050\s*│\s*0\.3000", detail.Out);
        Assert.Contains("classes merged: AP 0.3030  AP50 0.5050  AP75 0.5050  AR100 0.3000", detail.Out);

        MtkdRl.Tests.Cli.CliRun.AssertOneLineError(MtkdRl.Tests.Cli.CliRun.Run("eval", "--score-detections", res), "--data must name the ground truth");
        MtkdRl.Tests.Cli.CliRun.AssertOneLineError(MtkdRl.Tests.Cli.CliRun.Run("eval", "--data", temp.Sub("none"), "--score-detections", res), "no such file");
        MtkdRl.Tests.Cli.CliRun.AssertOneLineError(MtkdRl.Tests.Cli.CliRun.Run("eval"), "--model is required");
    }
}
