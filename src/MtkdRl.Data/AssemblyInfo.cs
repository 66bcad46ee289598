namespace MtkdRl.Data;
