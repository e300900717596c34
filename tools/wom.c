#include "wom.h"
int main(void) { return 0; }
