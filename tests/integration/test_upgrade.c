#include <criterion/criterion.h>
Test(upgrade, placeholder) {}
