extern "C" int mtkd_placeholder() { return 0; }
