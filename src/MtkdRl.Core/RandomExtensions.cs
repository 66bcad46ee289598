namespace MtkdRl.Core;

public static class RandomExtensions
{
    /// <summary>A standard normal sample (Box-Muller; one of the pair is discarded for simplicity).</summary>
    public static double NextGaussian(this Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
