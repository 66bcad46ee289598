using MtkdRl.Training;

namespace MtkdRl.Tests.ObjectDetection;

/// <summary>Hand cases on a 4 x 4 grid at stride 8 (a 32 x 32 canvas; location centres at 4, 12, 20, 28).</summary>
public class LocationAssignmentTests
{
    private static int[] Assign(params DetectionBox[] boxes) => LocationAssignment.Assign(boxes, 4, 4, 8);

    [Fact]
    public void A_box_owns_the_locations_inside_it_near_its_centre()
    {
        var owner = Assign(new DetectionBox(1, 0, 0, 16, 16));
        int[] expected = [0, 0, -1, -1, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1];
        Assert.Equal(expected, owner);
    }

    [Fact]
    public void The_centre_region_limits_a_long_box()
    {
        // On an 8 x 8 grid: a 64 x 8 box's centre is (32, 4); of the row's centres 4..60 only 20, 28, 36 and 44 lie
        // within 1.5 strides (12 pixels) of it.
        var owner = LocationAssignment.Assign([new DetectionBox(1, 0, 0, 64, 8)], 8, 8, 8);
        Assert.Equal([2, 3, 4, 5], Enumerable.Range(0, 64).Where(l => owner[l] == 0));
    }

    [Fact]
    public void The_smaller_box_wins_where_two_qualify()
    {
        var owner = Assign(new DetectionBox(1, 0, 0, 32, 32), new DetectionBox(2, 8, 8, 8, 8));
        var expected = Enumerable.Repeat(0, 16).ToArray();
        expected[1 * 4 + 1] = 1;
        Assert.Equal(expected, owner);
    }

    [Fact]
    public void A_box_between_location_centres_gets_the_location_under_its_centre_when_free()
    {
        // The box spans 13..15: no location centre lies inside it; its centre (14, 14) is in location (1, 1).
        var owner = Assign(new DetectionBox(1, 13, 13, 2, 2));
        Assert.Equal(0, owner[1 * 4 + 1]);
        Assert.Equal(1, owner.Count(o => o >= 0));
        // With (1, 1) already taken by a box that contains its centre, the small one gets nothing.
        var taken = Assign(new DetectionBox(1, 8, 8, 8, 8), new DetectionBox(2, 13, 13, 2, 2));
        Assert.Equal(0, taken[1 * 4 + 1]);
        Assert.DoesNotContain(1, taken);
    }

    [Fact]
    public void Targets_hold_categories_and_box_codes()
    {
        var labels = new int[16];
        var targets = new float[64];
        Array.Fill(targets, 9f);
        int positives = LocationAssignment.Targets([new DetectionBox(7, 8, 8, 16, 16)], 4, 4, 8, labels, targets);
        // Centre (16, 16): locations with centres 12 and 20 on both axes.
        Assert.Equal(4, positives);
        Assert.Equal(7, labels[1 * 4 + 1]);
        Assert.Equal(7, labels[2 * 4 + 2]);
        Assert.Equal(0, labels[0]);
        Assert.Equal([0.5f, 0.5f, (float)Math.Log(2), (float)Math.Log(2)], targets[(5 * 4)..(5 * 4 + 4)]);
        Assert.Equal([-0.5f, -0.5f, (float)Math.Log(2), (float)Math.Log(2)], targets[(10 * 4)..(10 * 4 + 4)]);
        Assert.All(targets[..4], v => Assert.Equal(0f, v));
    }
}
