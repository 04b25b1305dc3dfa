# Cross toolchain for the device runtime on a Cortex-M4F (Debian's
# gcc-arm-none-eabi + libnewlib-arm-none-eabi).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(TL_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_C_FLAGS_INIT "${TL_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${TL_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${TL_CPU_FLAGS} --specs=nano.specs -nostartfiles -Wl,--gc-sections")
