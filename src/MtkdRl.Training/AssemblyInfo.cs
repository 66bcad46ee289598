namespace MtkdRl.Training;
