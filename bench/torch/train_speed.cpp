// train_speed.cpp - the libtorch twin of bench/train_speed.c: the same
// architectures (as in src/large/arch.c), the same batch, SGD with momentum
// 0.9 and weight decay, the same thread count; prints images per second for
// forward + backward + optimiser step. Built only by bench/run-training.sh.
// usage: train_speed_torch ARCH IMAGES BATCH THREADS
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace nn = torch::nn;

// conv -> batchnorm -> relu, appended to `net`
static void add_cbr(nn::Sequential &net, int in, int out, int k, int stride, int groups = 1)
{
    net->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).groups(groups)));
    net->push_back(nn::BatchNorm2d(out));
    net->push_back(nn::ReLU());
}

// A basic residual block, with a 1x1 projection when the shape changes.
struct ResidualImpl : nn::Module {
    nn::Conv2d c1{nullptr}, c2{nullptr}, cs{nullptr};
    nn::BatchNorm2d b1{nullptr}, b2{nullptr}, bs{nullptr};
    ResidualImpl(int in, int out, int stride)
    {
        c1 = register_module("c1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
        b1 = register_module("b1", nn::BatchNorm2d(out));
        c2 = register_module("c2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)));
        b2 = register_module("b2", nn::BatchNorm2d(out));
        if (stride != 1 || in != out) {
            cs = register_module("cs", nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride)));
            bs = register_module("bs", nn::BatchNorm2d(out));
        }
    }
    torch::Tensor forward(torch::Tensor x)
    {
        auto y = b2(c2(torch::relu(b1(c1(x)))));
        return torch::relu(y + (cs ? bs(cs(x)) : x));
    }
};
TORCH_MODULE(Residual);

static nn::Sequential build(const std::string &arch)
{
    nn::Sequential net;
    if (arch == "student") {
        add_cbr(net, 1, 24, 3, 1);
        add_cbr(net, 24, 24, 3, 1);
        net->push_back(nn::MaxPool2d(2));
        add_cbr(net, 24, 48, 3, 1);
        net->push_back(nn::MaxPool2d(2));
        add_cbr(net, 48, 64, 3, 1);
        net->push_back(nn::AdaptiveAvgPool2d(1));
        net->push_back(nn::Flatten());
        net->push_back(nn::Linear(64, 10));
    } else if (arch == "student-tiny") {
        add_cbr(net, 1, 16, 3, 2);
        add_cbr(net, 16, 16, 3, 1, 16);
        add_cbr(net, 16, 32, 1, 1);
        add_cbr(net, 32, 32, 3, 2, 32);
        add_cbr(net, 32, 64, 1, 1);
        net->push_back(nn::AdaptiveAvgPool2d(1));
        net->push_back(nn::Flatten());
        net->push_back(nn::Linear(64, 10));
    } else if (arch == "teacher") {
        add_cbr(net, 1, 48, 3, 1);
        net->push_back(Residual(48, 48, 1));
        net->push_back(Residual(48, 48, 1));
        net->push_back(Residual(48, 96, 2));
        net->push_back(Residual(96, 96, 1));
        net->push_back(Residual(96, 192, 2));
        net->push_back(Residual(192, 192, 1));
        net->push_back(nn::AdaptiveAvgPool2d(1));
        net->push_back(nn::Flatten());
        net->push_back(nn::Dropout(0.2));
        net->push_back(nn::Linear(192, 10));
    } else {
        std::fprintf(stderr, "train_speed_torch: unknown architecture %s\n", arch.c_str());
        std::exit(1);
    }
    return net;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: train_speed_torch ARCH IMAGES BATCH THREADS\n");
        return 2;
    }
    const int images = std::atoi(argv[2]), batch = std::atoi(argv[3]);
    torch::set_num_threads(std::atoi(argv[4]));
    torch::manual_seed(1);
    auto net = build(argv[1]);
    net->train();
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
    auto x = torch::rand({batch, 1, 28, 28}) * 2 - 1;
    auto y = torch::arange(batch, torch::kLong).remainder(10);
    const int steps = images / batch;
    auto start = std::chrono::steady_clock::now();
    for (int step = -1; step < steps; ++step) { // step -1 warms up
        if (step == 0) {
            start = std::chrono::steady_clock::now();
        }
        opt.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
        loss.backward();
        opt.step();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.1f\n", steps * batch / seconds);
    return 0;
}
