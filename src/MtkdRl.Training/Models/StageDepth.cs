using System.Globalization;
using System.Text;

namespace MtkdRl.Training;

/// <summary>
/// The cN option of cnn, det, unet and fcn specs: N Conv3x3 - BatchNorm2d - ReLU blocks per stage (and per U-Net
/// decoder stage) instead of one, which deepens the network and widens its receptive field without another
/// downsampling. c1 is the default and is not written, so specs without the option build what they always built.
/// </summary>
internal static class StageDepth
{
    public const int Max = 4;

    public static bool Allowed(ModelSpec spec) => spec.Family is ModelFamily.Cnn or ModelFamily.Det or ModelFamily.Unet or ModelFamily.Fcn;

    public static bool Matches(string lower) => lower.Length > 1 && lower[0] == 'c' && char.IsDigit(lower[1]);

    public static ModelSpec Apply(ModelSpec spec, string option, string lower, Func<string, string> fail)
    {
        if (!int.TryParse(lower[1..], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > Max)
            fail($"convolutions per stage '{option}' must be c followed by 1 to {Max}, e.g. c2");
        return spec with { ConvsPerStage = n };
    }

    public static void Append(ModelSpec spec, StringBuilder sb)
    {
        if (spec.ConvsPerStage != 1) sb.Append(",c").Append(spec.ConvsPerStage);
    }

    /// <summary>The name suffix of a stage's k-th block (k from 0): none for the first, so c1 networks keep their layer names; b, c, d after.</summary>
    public static string Suffix(int k) => k == 0 ? "" : ((char)('a' + k)).ToString();
}
