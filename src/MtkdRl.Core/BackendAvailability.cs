namespace MtkdRl.Core;

/// <summary>Whether a backend can run here, and in words what it runs on or why it cannot.</summary>
public sealed record BackendAvailability(bool Available, string Detail)
{
    public static BackendAvailability Yes(string detail) => new(true, detail);
    public static BackendAvailability No(string why) => new(false, why);
}
