namespace MtkdRl.Backends; internal static class Placeholder { }
